"""The authorize step's typed events, as a subscriber of the service's payment event bus sees them."""
import dataclasses

import pytest

from orchestrator.engine import FlowLibrary, load_flow
from orchestrator.payments.events import (Authorizing, PaymentApproved, PaymentDeclined,
                                          PaymentFailed)
from orchestrator.dry_run import DryRun
from orchestrator.simulator import CallerScript

FLOW = """
flow: events
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      on: {declined: out, error: out}
  - id: out
    hangup: {}
"""
PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-9",
           "pay_tenant": "default"}


def paid_call(number):
    """The authorize events of one call keying ``number``, and the call's payment record."""
    flow = load_flow(FLOW, source_name="events.yaml")
    seen = []
    with DryRun(FlowLibrary({flow.name: flow}), default_flow=flow.name) as dry:
        dry.service.events.subscribe(lambda call, event: seen.append((call, event)))
        caller = CallerScript.from_data([{"wait_prompt": 1}, {"press": number + "#"},
                                         {"wait_prompt": 2}, {"press": "1230"},
                                         {"wait_prompt": 3}, {"press": "737"}])
        result = dry.finish(dry.place(caller, PAYMENT), 60)
        [payment] = [r for r in dry.service.store.list() if r["call_uuid"] == result.record.uuid]
    events = [(call, event) for call, event in seen
              if isinstance(event, (Authorizing, PaymentApproved, PaymentDeclined, PaymentFailed))]
    for call, _ in events:
        assert (call.uuid, call.tenant, call.flow) == (result.record.uuid, "default", "events")
    for _, event in seen:   # nothing but masks and vocabulary: no run of the number's digits
        text = repr(dataclasses.astuple(event))
        assert not any(number[i:i + 7] in text for i in range(len(number) - 6)), event
    return [event for _, event in events], payment


@pytest.mark.parametrize("number,answer,fields", [
    ("4111111111111111", PaymentApproved, {}),
    ("4000000000009995", PaymentDeclined, {"reason_code": "insufficient_funds"}),
    ("4000000000005001", PaymentFailed, {"kind": "http", "outcome_unknown": True}),
])
def test_authorizing_then_the_answer_naming_the_recorded_payment(number, answer, fields):
    events, payment = paid_call(number)
    assert [type(e) for e in events] == [Authorizing, answer]
    authorizing, answered = events
    assert (authorizing.gateway, authorizing.brand, authorizing.last4) == \
        ("sandbox", "visa", number[-4:])
    assert authorizing.payment_id == answered.payment_id == payment["id"]
    assert answered.gateway == "sandbox" and answered.seconds > 0
    assert {k: getattr(answered, k) for k in fields} == fields
    if answer is PaymentApproved:
        assert answered.auth_code == payment["auth_code"] != ""
