"""Card payment flows run end to end: simulator, sandbox gateway and service on loopback."""
import pytest

from orchestrator.engine import FlowLibrary, load_flow
from tests.support.waiting import eventually

PAYMENT_VARS = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-7"}


class PaymentRun:
    """One call through a flow given as text; keeps what a test may want to look at."""

    def __init__(self, world, result, events):
        self.world, self.result, self.events = world, result, events
        self.record = result.record
        self.outcome = result.outcome
        self.payments = [r for r in world.service.store.list() if r["call_uuid"] == self.record.uuid]
        keys = {p["idempotency_key"] for p in self.payments}
        self.charges = [c for c in world.sandbox.charges if c["idempotency_key"] in keys]

    def kinds(self, kind):
        """The payment events of one type (payments/events.py) the call published, in order."""
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def heard(self):
        return [h.arg for h in self.record.heard]


@pytest.fixture
def pay(service_on_simulator):
    """pay(flow_text, steps, variables=..., record=False) -> PaymentRun."""
    def run(flow_text, steps, variables=None, record=False, timeout=60):
        flow = load_flow(flow_text, source_name="test.yaml")
        world = service_on_simulator({"flows": {"default": flow.name}}, sandbox=True,
                                     library=FlowLibrary({flow.name: flow}))
        events = world.record_payment_events()
        merged = dict(PAYMENT_VARS, **(variables or {}))
        if record:
            merged["pay_recording_path"] = "/var/rec/call.wav"
        call = world.place(steps, merged)
        if record:
            eventually(lambda: call.uuid in world.switch.channels, what="the call on the switch")
            world.switch.api("uuid_record %s start /var/rec/call.wav" % call.uuid)
        result = world.finish(call, timeout)
        payment_run = PaymentRun(world, result, events)
        world.stop()
        return payment_run
    return run
