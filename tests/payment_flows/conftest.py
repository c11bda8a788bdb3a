"""Card payment flows run end to end: simulator, sandbox gateway and service on loopback."""
import gevent
import pytest

from orchestrator.engine import FlowLibrary, load_flow
from orchestrator.dry_run import DryRun
from orchestrator.simulator import CallerScript

CARD = {"visa": "4111111111111111", "mastercard": "5555555555554444", "amex": "378282246310005",
        "declined": "4000000000009995", "luhn_error": "4111111111111112"}
PAYMENT_VARS = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-7"}


class PaymentRun:
    """One call through a flow given as text; keeps what a test may want to look at."""

    def __init__(self, dry_run, result, events):
        self.run, self.result, self.events = dry_run, result, events
        self.record = result.record
        self.outcome = result.outcome
        self.payments = [r for r in dry_run.service.store.list() if r["call_uuid"] == self.record.uuid]
        self.charges = [c for c in dry_run.sandbox.charges
                        if c["idempotency_key"].startswith(self.record.uuid + ":")]

    def kinds(self, kind):
        """The payment events of one type (payments/events.py) the call published, in order."""
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def heard(self):
        return [h.arg for h in self.record.heard]


@pytest.fixture
def pay(tmp_path):
    """pay(flow_text, steps, variables=..., record=False) -> PaymentRun."""
    def run(flow_text, steps, variables=None, record=False, timeout=60):
        flow = load_flow(flow_text, source_name="test.yaml")
        events = []
        with DryRun(FlowLibrary({flow.name: flow}), default_flow=flow.name,
                    store_path=str(tmp_path / "payments.sqlite")) as dry:
            dry.service.events.subscribe(lambda call, event: events.append(event))
            merged = dict(PAYMENT_VARS, **(variables or {}))
            if record:
                merged["pay_recording_path"] = "/var/rec/call.wav"
            call = dry.place(CallerScript.from_data(list(steps)), merged)
            if record:
                with gevent.Timeout(5):
                    while call.uuid not in dry.switch.channels:
                        gevent.sleep(0.01)
                dry.switch.api("uuid_record %s start /var/rec/call.wav" % call.uuid)
            result = dry.finish(call, timeout)
            return PaymentRun(dry, result, events)
    return run
