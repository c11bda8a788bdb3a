"""authorize, announce and transfer_back on a simulated call, against the sandbox gateway."""
from tests.support.cards import CARD
from tests.support.payment_flow import FLOW, card


def test_approved_payment_is_announced_recorded_and_handed_back(pay):
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_agent": "2001"})
    assert run.outcome.result == "transferred"
    assert run.record.transferred_to == "2001 XML default"
    [payment] = run.payments
    assert payment["status"] == "approved" and payment["card"] == "411111******1111"
    assert payment["amount_minor"] == 1250 and payment["currency"] == "EUR"
    assert payment["reference"] == "INV-7"
    assert len(run.charges) == 1 and run.charges[0]["auth_code"] == payment["auth_code"]
    assert "flite|kal|12 euros and 50 cents" in run.heard
    assert "en NUMBER iterated FEMININE 1111" in run.heard
    spelled = " ".join(payment["auth_code"])
    assert any(spelled in h or ("iterated" in h and payment["auth_code"] in h) for h in run.heard)


def test_only_the_result_variables_are_left_for_the_dialplan(pay):
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_agent": "2001"})
    given = {"pay_amount", "pay_currency", "pay_reference", "pay_agent", "pay_flow", "pay_recording_path"}
    left = {k: v for k, v in run.record.variables.items() if k.startswith("pay_") and k not in given}
    assert set(left) == {"pay_result", "pay_brand", "pay_last4", "pay_auth_code"}
    assert left["pay_result"] == "approved" and left["pay_brand"] == "visa" and left["pay_last4"] == "1111"


def test_declined_then_a_second_card(pay):
    steps = card(CARD["declined"]) + card(CARD["mastercard"], first_prompt=8)
    run = pay(FLOW, steps)
    assert [p["status"] for p in run.payments] == ["declined", "approved"]
    assert run.payments[0]["decline_code"] == "insufficient_funds"
    assert "flite|kal|The card has insufficient funds." in run.heard
    assert len(run.charges) == 1
    # each attempt has its own key: the payment's id, recorded before the gateway was called
    assert [p["idempotency_key"] for p in run.payments] == [p["id"] for p in run.payments]
    assert len({p["idempotency_key"] for p in run.payments}) == 2
    assert run.record.hangup_by == "service"  # no pay_agent: goodbye


def test_declined_twice_leaves_the_decline_reason_for_the_dialplan(pay):
    steps = card(CARD["declined"]) + card("4000000000000002", first_prompt=8)
    run = pay(FLOW, steps, variables={"pay_agent": "2001"})
    assert [p["status"] for p in run.payments] == ["declined", "declined"]
    assert run.record.variables["pay_result"] == "declined"
    assert run.record.variables["pay_decline_reason"]
    assert run.charges == []


def test_a_bad_amount_stops_the_flow_before_anything_is_asked(pay):
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_amount": "12.50"})
    assert run.outcome.result == "error"
    assert "amount" in run.outcome.detail
    assert run.heard == []
    assert run.record.fallback_reached


def test_an_unknown_currency_stops_the_flow_too(pay):
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_currency": "EUX"})
    assert run.outcome.result == "error" and "EUX" in run.outcome.detail


def test_gateway_server_error_takes_the_error_branch(pay):
    run = pay(FLOW, card("4000000000005001"), variables={"pay_agent": "2001"})
    [payment] = run.payments
    assert payment["status"] in ("error", "unknown")
    assert any("could not confirm your payment" in h for h in run.heard)
    assert run.record.transferred_to == "2001 XML default"
    assert run.record.variables["pay_result"] == "error"


def test_spanish_announcements(pay):
    text = FLOW.replace("flow: t\n", "flow: t\nlanguage: es\n")
    run = pay(text, card(CARD["visa"]))
    assert "tts_commandline|es|12 euros con 50 céntimos" in run.heard   # es.yaml: say_gender
    assert "tts_commandline|es|Gracias. Su pago ha sido aprobado." in run.heard   # es.yaml: tts
