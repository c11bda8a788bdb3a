"""Card payments on a real FreeSWITCH: paid, declined, hung up right after the last digit.

The switch logs at DEBUG for these calls, the harness asks for the XML CDR in
CHANNEL_HANGUP_COMPLETE (``hangup_complete_with_xml``, set as a CDR module would be
configured), and every test then looks for the card number in freeswitch.log, in the CDR and
in the channel variables at hangup, and for DTMF events carrying digits. The shipped
card_payment flow runs unchanged but for its amount, which the test fixes in its vars.
"""

import gevent
import pytest

from tests.support.live.card_entry import (PAN_APPROVED, PAN_DECLINED, PAN_DECLINED_2, card_digits,
                                           key_card, wait_prompt)
from tests.support.live.payment_service import PaymentService


@pytest.fixture
def payments(tmp_path, live_switch, control):
    """The Service with the sandbox gateway and the shipped card_payment flow (fixed amount)."""
    run = PaymentService(tmp_path, live_switch, "LIVE-1",
                         lambda channel: channel.set_variable("hangup_complete_with_xml", "true"))
    control.api("fsctl loglevel debug")
    run.start()
    yield run.service, run.sandbox, run.ended
    run.stop()


def assert_no_trace(control, live_switch, a_leg, pans):
    runs = set().union(*(card_digits(p) for p in pans))
    complete = control.wait(a_leg, "CHANNEL_HANGUP_COMPLETE", 30)
    assert complete.headers.get("CDR-Attached") == "xml" and "<cdr" in complete.body
    cdr_and_variables = complete.body + "\n".join("%s: %s" % kv for kv in complete.headers.items())
    assert [r for r in runs if r in cdr_and_variables] == []
    dtmf = [m for m in control.events(a_leg, "DTMF")]
    assert dtmf == []
    if live_switch.process is not None:
        log = live_switch.process.log_text()
        assert "[DEBUG]" in log
        assert [r for r in runs if r in log] == []
    return complete


def test_a_paid_call_leaves_no_card_digits(payments, control, live_switch):
    service, sandbox, ended = payments
    a_leg = control.call()
    key_card(control, a_leg, PAN_APPROVED)
    outcome = ended.get(timeout=40)
    [row] = service.store.list()
    assert row["status"] == "approved" and row["card"] == "495247******2387"
    assert len(sandbox.charges) == 1
    complete = assert_no_trace(control, live_switch, a_leg, [PAN_APPROVED])
    assert complete.headers.get("variable_pay_result") == "approved"
    assert complete.headers.get("variable_pay_last4") == "2387"
    assert outcome.result == "completed"


def test_a_declined_call_leaves_no_card_digits(payments, control, live_switch):
    service, sandbox, ended = payments
    a_leg = control.call()
    key_card(control, a_leg, PAN_DECLINED)
    key_card(control, a_leg, PAN_DECLINED_2, code="123", nth=2)
    ended.get(timeout=60)
    assert [r["status"] for r in service.store.list()] == ["declined", "declined"]
    assert sandbox.charges == []
    complete = assert_no_trace(control, live_switch, a_leg, [PAN_DECLINED, PAN_DECLINED_2])
    assert complete.headers.get("variable_pay_result") == "declined"


@pytest.mark.parametrize("terminated", [True, False], ids=["after-pound", "after-last-digit"])
def test_hanging_up_right_after_the_last_digit_leaves_nothing(payments, control, live_switch,
                                                               terminated):
    service, sandbox, ended = payments
    a_leg = control.call()
    wait_prompt(control, a_leg, "card number")
    control.press(a_leg, PAN_APPROVED + ("#" if terminated else ""))
    gevent.sleep(len(PAN_APPROVED) * 0.1 + 0.3)  # the keys take ~100 ms each to arrive
    control.hang_up(a_leg)
    outcome = ended.get(timeout=40)
    assert outcome.result == "caller-hung-up"
    assert sandbox.charges == []
    complete = assert_no_trace(control, live_switch, a_leg, [PAN_APPROVED])
    assert complete.headers.get("variable_hangup_cause") == "NORMAL_CLEARING"
