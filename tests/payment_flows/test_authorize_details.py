"""authorize's details on a simulated call: rendered when the card is charged, kept with the
payment; details that break a rule charge nothing and take on.error."""
import json

from tests.support.canary import traces
from tests.support.cards import CARD

FLOW = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
  invoices: ${channel.pay_invoices}
steps:
  - answer: {}
  - collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      details: {invoices: "${invoices}", customer: "C-${reference}"}
      on: {declined: out, error: refused}
  - goto: out
  - id: refused
    announce: payment_unconfirmed
  - id: out
    transfer_back: {to: goodbye}
"""


def card(number, first_prompt=2):
    return [{"wait_prompt": first_prompt}, {"press": number + "#"},
            {"wait_prompt": first_prompt + 1}, {"press": "1230"},
            {"wait_prompt": first_prompt + 2}, {"press": "737"}]


def test_the_details_are_rendered_checked_and_kept_with_the_payment(pay):
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_invoices": "2026110001,2026120002"})
    [payment] = run.payments
    assert payment["status"] == "approved" and len(run.charges) == 1
    assert json.loads(payment["details"]) == {"customer": "C-INV-7",
                                              "invoices": "2026110001,2026120002"}


def test_details_that_could_hold_a_card_charge_nothing_and_take_the_error_branch(pay, caplog):
    # a caller who keyed the card where the CRM's account number was asked, say
    run = pay(FLOW, card(CARD["visa"]), variables={"pay_invoices": CARD["visa"]})
    assert run.payments == [] and run.charges == []
    assert any("could not confirm your payment" in h for h in run.heard), run.heard
    assert run.outcome.result == "completed"
    assert "more than 12 digits" in caplog.text and traces(caplog.text) == []


def test_a_flow_without_details_records_none(pay):
    flow = FLOW.replace('      details: {invoices: "${invoices}", customer: "C-${reference}"}\n', "")
    run = pay(flow, card(CARD["visa"]), variables={"pay_invoices": "1"})
    [payment] = run.payments
    assert payment["details"] is None
