"""send_sms after a card payment on a simulated call: the text in the caller's language with
the last four at most, a random code recorded with the payment, and no trace of the card in
the text, the store, the log or what the caller heard (the canary card keyed)."""
import json
import logging
import re

from orchestrator.engine import FlowLibrary, load_flow
from tests.support.canary import CODE, EXPIRY, PAN, traces

FLOW = """
flow: sms_after_payment
language: %s
vars: {amount: "${channel.pay_amount}", currency: EUR, reference: INV-9}
steps:
  - answer: {}
  - collect_card: {on: {cancelled: out, too-many-failed-attempts: out}}
  - authorize: {gateway: sandbox, on: {declined: out, error: out}}
  - send_sms: {provider: sms, on: {error: out, timeout: out}}
  - say: {value: "${confirmation.code}", kind: digits}
  - id: out
    transfer_back: {to: goodbye}
"""
CALLER = [{"wait_prompt": 1}, {"press": PAN + "#"}, {"wait_prompt": 2}, {"press": EXPIRY},
          {"wait_prompt": 3}, {"press": CODE}]


def paid_call(service_on_simulator, language="en", caller_number=None):
    flow = load_flow(FLOW % language, source_name="sms.yaml")
    world = service_on_simulator({"flows": {"default": flow.name},
                                  "sms_providers": [{"name": "sms", "type": "sink"}]},
                                 sandbox=True, library=FlowLibrary({flow.name: flow}))
    variables = {"pay_amount": "4250"}
    options = {"caller_id_number": caller_number} if caller_number else {}
    call = world.switch.place_call(world.address, caller=__import__(
        "tests.support.service", fromlist=["caller_script"]).caller_script(CALLER),
        variables=variables, **options)
    result = world.finish(call, 60)
    messages = list(world.service.sms_providers["sms"].messages)
    rows = world.service.store.list()
    return result, messages, rows


def test_the_caller_is_texted_a_code_recorded_with_the_payment(service_on_simulator, caplog):
    caplog.set_level(logging.DEBUG)
    result, messages, rows = paid_call(service_on_simulator)
    [row] = rows
    assert row["status"] == "approved"
    [message] = messages
    code = row["confirmation_code"]
    assert re.fullmatch(r"[0-9]{6}", code)
    assert message.text == ("Payment of 42.50 EUR received with the card ending 1111. "
                            "Confirmation code: %s." % code)
    assert message.reference == row["id"]
    assert any(h.app == "say" and h.arg.endswith(code) for h in result.record.heard)
    for text in [message.text, json.dumps(rows), caplog.text, json.dumps([h.arg for h in result.record.heard])]:
        assert traces(text) == []


def test_spanish_and_a_fresh_code_for_every_payment(service_on_simulator):
    codes = set()
    for _ in range(2):
        _, [message], [row] = paid_call(service_on_simulator, "es")
        assert message.text.startswith("Hemos recibido su pago de 42.50 EUR con la tarjeta terminada en 1111.")
        codes.add(row["confirmation_code"])
    assert len(codes) == 2


def test_a_caller_number_that_is_not_a_phone_number_sends_nothing(service_on_simulator):
    result, messages, [row] = paid_call(service_on_simulator, caller_number="anonymous")
    assert messages == [] and row["confirmation_code"] is None
    assert result.outcome.result == "completed"
