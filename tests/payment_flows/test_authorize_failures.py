"""A gateway call that fails unexpectedly, end to end: the shipped ``card_payment`` flow on the
simulator, the sandbox gateway charging the card, and our side failing mid-call.

The request may have left, so the outcome is unknown: the payment is recorded ``unknown`` and
flagged for reconciliation, the flow takes ``on.error`` (the caller hears the unconfirmed
announcement and goes to the agent, the flow does not end in "error"), and the failure's
exception, whose frames and message hold the card, reaches no log line. The log is read raw,
ahead of the redaction filter (which is defence in depth, not what keeps the card out).
"""
import json
import logging
import os

import pytest
import yaml

from orchestrator.payments.events import PaymentFailed
from orchestrator.payments.gateways.http import HttpGateway
from orchestrator.payments.gateways.sandbox import SandboxConnector
from tests.support.card_traces import CODE, EXPIRY, NUMBER, traces

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "flows", "card_payment.yaml"), encoding="utf-8") as _handle:
    SHIPPED_FLOW = _handle.read()
with open(os.path.join(ROOT, "orchestrator", "catalog", "en.yaml"), encoding="utf-8") as _handle:
    UNCONFIRMED = yaml.safe_load(_handle)["prompts"]["payment_unconfirmed"][0]["text"]
CALLER = [{"wait_prompt": 3}, {"press": NUMBER + "#"}, {"wait_prompt": 4}, {"press": EXPIRY},
          {"wait_prompt": 5}, {"press": CODE}]


class RawLog(logging.Handler):
    """Keeps every record as formatted text (message and traceback), before any filter: the
    redaction filter ``Service.start`` puts on every handler does not run on this one."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []
        self.formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def filter(self, record):
        return True

    def emit(self, record):
        self.lines.append(self.format(record))

    @property
    def text(self):
        return "\n".join(self.lines)


@pytest.fixture
def raw_log(caplog):
    caplog.set_level(logging.DEBUG)
    handler = RawLog()
    root = logging.getLogger()
    root.handlers.insert(0, handler)    # first, so no other handler's filter has changed it
    yield handler
    root.removeHandler(handler)


def assert_unconfirmed_and_flagged(run, raw_log):
    [payment] = run.payments
    assert payment["status"] == "unknown" and payment["needs_reconciliation"] == 1
    assert payment["error_kind"] == "internal"
    [failed] = run.kinds(PaymentFailed)
    assert failed.kind == "internal" and failed.outcome_unknown is True
    assert any(UNCONFIRMED in heard for heard in run.heard), run.heard
    assert run.outcome.result == "transferred" and run.record.transferred_to == "2001 XML default"
    assert run.record.variables["pay_result"] == "error"
    with open(run.world.store_path, "rb") as handle:
        store = handle.read().decode("latin-1")
    assert traces(raw_log.text) == [] and traces(store) == []
    assert "unexpected RuntimeError" in raw_log.text       # the failure is logged, by its type


def test_a_failure_after_the_gateway_charged_is_unknown_flagged_and_unconfirmed(
        pay, monkeypatch, raw_log):
    sent = HttpGateway._send

    def send_then_fail(self, request):
        sent(self, request)                               # the sandbox charges the card
        raise RuntimeError("could not read the answer to %r" % request["body"])

    monkeypatch.setattr(HttpGateway, "_send", send_then_fail)
    run = pay(SHIPPED_FLOW, CALLER, variables={"pay_agent": "2001"})
    assert len(run.charges) == 1                          # charged: "unknown" is the truth
    assert_unconfirmed_and_flagged(run, raw_log)
    assert "failed inside the call" in raw_log.text


def test_a_connector_raising_inside_the_reveal_on_its_own_is_contained_by_the_step(
        pay, monkeypatch, raw_log):
    """A connector that replaces the shared ``authorize`` and fails carelessly: the step is the
    last line, and it holds."""
    def careless_authorize(self, amount, currency, reference, card, idempotency_key):
        with card.reveal() as revealed:
            body = json.dumps({"pan": revealed.number, "exp": revealed.expiry_mmyy,
                               "cvv": revealed.security_code})
            raise RuntimeError("connector crashed building %s" % body)

    monkeypatch.setattr(SandboxConnector, "authorize", careless_authorize)
    run = pay(SHIPPED_FLOW, CALLER, variables={"pay_agent": "2001"})
    assert run.charges == []
    assert_unconfirmed_and_flagged(run, raw_log)
    assert "authorize: gateway sandbox failed" in raw_log.text
