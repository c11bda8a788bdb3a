"""The ledger: one mapping from a gateway's answer to the payment record, for authorize and
reconcile alike."""
import pytest

from orchestrator.payments.card import CardData
from orchestrator.payments.gateways import Approved, Declined, GatewayError
from orchestrator.payments.ledger import NEVER_REACHED_GATEWAY, PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.store import PaymentStore


def summary():
    card = CardData()
    card.set_number("4111111111111111")
    return card.summary


@pytest.fixture
def ledger():
    return PaymentLedger(PaymentStore())


def begin(ledger, key="call-1:1"):
    return ledger.begin(money=Money(1250, "EUR"), gateway="sandbox", idempotency_key=key,
                        summary=summary(), call_uuid="call-1", tenant="acme", flow="pay",
                        reference="INV-1")


def test_begin_records_a_pending_payment_before_the_gateway_is_called(ledger):
    row = ledger.store.get(begin(ledger))
    assert row["status"] == "pending" and not row["needs_reconciliation"]
    assert (row["amount_minor"], row["currency"], row["gateway"], row["idempotency_key"]) == \
        (1250, "EUR", "sandbox", "call-1:1")
    assert (row["call_uuid"], row["tenant"], row["flow"], row["reference"]) == \
        ("call-1", "acme", "pay", "INV-1")
    assert row["card"] == "411111******1111" and row["brand"] == "visa"


@pytest.mark.parametrize("result,status,fields,flagged", [
    (Approved("A1B2C3", "T-9"), "approved", {"auth_code": "A1B2C3", "transaction_id": "T-9"}, False),
    (Declined("insufficient_funds"), "declined",
     {"decline_code": "insufficient_funds", "decline_reason": "There are not enough funds on the card.",
      "gateway_code": ""}, False),
    (Declined("do_not_honour", "0190"), "declined",
     {"decline_code": "do_not_honour", "gateway_code": "0190"}, False),
    (GatewayError("connect", False, "refused"), "error", {"error_kind": "connect"}, False),
    (GatewayError("timeout", True, "no answer"), "unknown", {"error_kind": "timeout"}, True),
])
def test_finish_writes_the_gateways_answer(ledger, result, status, fields, flagged):
    payment_id = begin(ledger)
    assert ledger.finish(payment_id, result) == status
    row = ledger.store.get(payment_id)
    assert row["status"] == status and bool(row["needs_reconciliation"]) is flagged
    assert {k: row[k] for k in fields} == fields


def test_settle_writes_what_the_gateway_recorded_and_clears_the_flag(ledger):
    payment_id = begin(ledger)
    ledger.finish(payment_id, GatewayError("timeout", True))
    assert ledger.settle(payment_id, Approved("A1", "T1")) == "approved"
    row = ledger.store.get(payment_id)
    assert row["status"] == "approved" and row["auth_code"] == "A1" and not row["needs_reconciliation"]


def test_settle_a_key_the_gateway_never_saw_as_not_charged(ledger):
    payment_id = begin(ledger)
    assert ledger.settle(payment_id, None) == "error"
    assert ledger.store.get(payment_id)["error_kind"] == NEVER_REACHED_GATEWAY == "never-reached-gateway"


def test_settle_leaves_a_payment_the_gateway_still_cannot_answer_for(ledger):
    payment_id = begin(ledger)
    ledger.finish(payment_id, GatewayError("timeout", True))
    before = ledger.store.get(payment_id)
    assert ledger.settle(payment_id, GatewayError("pending", True, "still working")) is None
    assert ledger.store.get(payment_id) == before


def test_without_a_store_nothing_is_written_and_the_status_is_still_told():
    ledger = PaymentLedger(None)
    assert begin(ledger) == ""
    assert ledger.finish("", GatewayError("timeout", True)) == "unknown"
    assert ledger.settle("", None) == "error"
