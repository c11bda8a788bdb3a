"""Card payments on a real FreeSWITCH while other clients listen to everything it says.

Each call runs under the canary of tests/support/live/canary.py: a client on ``event plain
ALL``, one on ``event json ALL``, one on the log stream, the log at DEBUG, mod_xml_cdr writing
both legs' CDRs. Once the call is gone none of them may hold the number (or any seven digits of
what the caller keyed, in a row, split by anything, or one per event or per log line), the
expiry or the security code. On top of that, the leg the orchestrator drives may have had no
DTMF event and no per-key log line at all, from its first moment.

The shipped ``card_payment`` flow runs (its amount fixed) through the shipped extension 7000,
over loopback and over SIP with RFC 2833 from a second switch (the caller's phone), for: paid;
declined then paid with another card; cancelled with ``*``; hung up right after ``#``; the
number typed ahead over the amount prompt. The agent-assisted modes run on a bridged call.
The controls at the end show the canary finding keys where the switch is let to tell them.
"""
import gevent
import pytest

from tests.support.live.agent_call import BridgedCall
from tests.support.live.card_entry import is_field_read, key_card, prompt_text, wait_prompt
from tests.support.live.fsprocess import PLAIN_CONTEXT, PLAIN_EXTENSION
from tests.support.live.payment_service import PaymentService
from tests.support.live.tones import key_in_band

# Luhn-valid, and no piece of them is a number the switch writes of its own
PAN = {"loopback": "4952471286562387", "sip": "5216384907251638"}
PAN_DECLINES = "4000000000009995"          # the sandbox declines it: insufficient funds
EXPIRY, CODE = "0829", "073"               # whole values no timestamp or line number looks like


@pytest.fixture(params=["loopback", "sip"])
def line(request):
    """How the caller reaches the switch: (name, SipCaller or None)."""
    if request.param == "loopback":
        return request.param, None
    return request.param, request.getfixturevalue("sip_caller")


@pytest.fixture
def payments(tmp_path, live_switch, control, canary):
    run = PaymentService(tmp_path, live_switch, "LIVE-CANARY",
                         lambda channel: channel.set_variable("hangup_complete_with_xml", "true"))
    canary.secret(EXPIRY, CODE)
    run.start()
    yield run
    run.stop()


def payment_leg(control, caller):
    """The uuid of the leg the orchestrator drove (the one the dialplan's socket handed over)."""
    [leg] = {m.headers["Unique-ID"] for m in control.events(caller, "CHANNEL_EXECUTE")}
    return leg


def assert_told_nothing(canary, control, caller):
    """The canary over everything, then: the payment leg had no DTMF event, no key log line."""
    canary.assert_clean()
    leg = payment_leg(control, caller)
    assert canary.keys_told(leg) == {}, canary.keys_told(leg)
    complete = control.wait(caller, "CHANNEL_HANGUP_COMPLETE", 30)
    assert complete.headers.get("variable_digits_dialed") in (None, "none"), \
        complete.headers.get("variable_digits_dialed")
    return complete


def test_paid(payments, control, canary, line):
    name, sip = line
    caller = control.call(sip=sip)
    key_card(control, caller, PAN[name], EXPIRY, CODE)
    outcome = payments.ended.get(timeout=60)
    [row] = payments.service.store.list()
    assert row["status"] == "approved" and row["card"].endswith(PAN[name][-4:])
    assert len(payments.sandbox.charges) == 1
    assert outcome.result == "completed"
    control.hang_up(caller)
    complete = assert_told_nothing(canary, control, caller)
    assert complete.headers.get("variable_pay_result") == "approved"
    if sip:
        assert complete.headers.get("variable_dtmf_type") == "rfc2833"


def test_declined_then_paid_with_another_card(payments, control, canary, line):
    name, sip = line
    caller = control.call(sip=sip)
    key_card(control, caller, PAN_DECLINES, EXPIRY, CODE)
    key_card(control, caller, PAN[name], EXPIRY, CODE, nth=2)
    payments.ended.get(timeout=90)
    assert [r["status"] for r in payments.service.store.list()] == ["declined", "approved"]
    assert len(payments.sandbox.charges) == 1
    control.hang_up(caller)
    assert_told_nothing(canary, control, caller)


def test_cancelled_with_star(payments, control, canary, line):
    name, sip = line
    caller = control.call(sip=sip)
    wait_prompt(control, caller, "card number")
    control.press(caller, PAN[name][:10] + "*")
    outcome = payments.ended.get(timeout=60)
    assert payments.service.store.list() == [] and payments.sandbox.charges == []
    assert outcome.result in ("transferred", "completed"), outcome.result
    control.hang_up(caller)
    assert_told_nothing(canary, control, caller)


def test_hung_up_right_after_the_hash(payments, control, canary, line):
    name, sip = line
    caller = control.call(sip=sip)
    wait_prompt(control, caller, "card number")
    control.press(caller, PAN[name] + "#")
    gevent.sleep(len(PAN[name]) * 0.1 + 0.3)       # the keys take ~100 ms each to arrive
    control.hang_up(caller)
    outcome = payments.ended.get(timeout=60)
    assert outcome.result == "caller-hung-up"
    assert payments.sandbox.charges == []
    assert_told_nothing(canary, control, caller)


def test_number_typed_ahead_over_the_amount_prompt_is_used(payments, control, canary, line):
    name, sip = line
    caller = control.call(sip=sip)
    first = wait_prompt(control, caller, "card number")
    first = [m for m in control.events(caller, "CHANNEL_EXECUTE") if is_field_read(m)][0]
    assert "amount due" in prompt_text(first).lower(), prompt_text(first)
    gevent.sleep(0.3)              # the amount is being spoken, before "card number" is
    control.press(caller, PAN[name] + "#")
    wait_prompt(control, caller, "expiry date")
    control.press(caller, EXPIRY)
    wait_prompt(control, caller, "security code")
    control.press(caller, CODE)
    payments.ended.get(timeout=60)
    [row] = payments.service.store.list()
    assert row["status"] == "approved" and row["card"].endswith(PAN[name][-4:])
    control.hang_up(caller)
    assert_told_nothing(canary, control, caller)


# -- agent-assisted -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["transfer", "stay"])
def test_agent_assisted(agent_service, control, canary, live_switch, tmp_path, mode):
    agent = agent_service
    canary.secret(EXPIRY, CODE)
    call = BridgedCall(control, str(tmp_path))
    reply = agent.start_payment(call.ab, mode)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    key_card(control, call.ca, PAN["loopback"], EXPIRY, CODE)
    agent.ended.get(timeout=60)
    final = agent.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    call.hang_up_all()
    canary.assert_clean()
    assert canary.keys_told(call.cb) == {}


# -- controls -----------------------------------------------------------------------------------
def test_control_keys_before_card_entry_on_an_extension_without_sensitive_dtmf(payments, control,
                                                                               canary):
    """The issue the payment extensions' first line closes: where the dialplan sets no
    sensitive_dtmf, keys pressed over the amount prompt (before the flow's card entry makes the
    call secure) are DTMF events, log lines and CDR history. The canary finds each."""
    canary.expect_leak("the plain extension sets no sensitive_dtmf")
    caller = control.call(extension=PLAIN_EXTENSION, context=PLAIN_CONTEXT)
    first_prompt(control, caller)
    control.press(caller, PAN["loopback"] + "#")
    gevent.sleep(len(PAN["loopback"]) * 0.1 + 1.0)
    control.hang_up(caller)
    payments.ended.get(timeout=60)
    canary.settle()
    found = canary.findings()
    spread = {entry[:2] for entry in found.get("one_per_message", [])}
    assert {("plain", "DTMF-Digit"), ("json", "DTMF-Digit")} <= spread, found
    assert "log" in {where for where, _ in spread}, spread
    runs = {entry[0] for entry in found.get("runs", [])}
    assert {"plain", "json"} <= runs and any(w.startswith("cdr ") for w in runs), runs
    assert canary.keys_told(payment_leg(control, caller))["dtmf"]


def first_prompt(control, caller, timeout=30):
    """The flow's first announcement on a call that is not secure: a dptools prompt."""
    def started(m):
        return (m.event_name == "CHANNEL_EXECUTE" and control.of_call(caller)(m)
                and m.headers.get("Application") in ("playback", "speak", "say"))
    return control.es.wait_for(started, timeout, "the first prompt")


def test_control_in_band_detection_logs_each_key_at_debug(tmp_path, live_switch, control, canary):
    """Why a line keying in band is searched at INFO elsewhere: FreeSWITCH's in-band detector
    (``start_dtmf``) logs every key it hears at DEBUG, sensitive_dtmf or not
    (switch_ivr_async.c, ``DTMF DETECTED``): the README's trust boundary says so."""
    canary.expect_leak("in-band detection at DEBUG")
    run = PaymentService(tmp_path, live_switch, "LIVE-IN-BAND",
                         lambda channel: channel.execute("start_dtmf"))
    run.start()
    try:
        caller = control.call()
        wait_prompt(control, caller, "card number")
        gevent.sleep(0.5)
        key_in_band(control, caller, PAN["loopback"] + "#")
        control.hang_up(caller)
        run.ended.get(timeout=60)
    finally:
        run.stop()
    canary.settle()
    found = canary.findings()
    assert "log" in {entry[0] for entry in found.get("one_per_message", [])}, found
    told = canary.keys_told(payment_leg(control, caller))
    assert any("DTMF DETECTED" in line for line in told["key_lines"]), told
    assert "dtmf" not in told          # sensitive_dtmf still keeps them out of the events
