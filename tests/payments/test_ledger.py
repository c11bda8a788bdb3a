"""The ledger: one mapping from a gateway's answer to the payment record, for authorize and
reconcile alike; only a definite answer closes a payment."""
import uuid

import pytest

from orchestrator.payments.card import CardData
from orchestrator.payments.gateways import Approved, Declined, GatewayError
from orchestrator.payments.gateways.matching import ExpectedPayment
from orchestrator.payments.gateways.results import Cancelled, PaymentFacts
from orchestrator.payments.ledger import CANCELLED, NO_RECORD, REVERSED, PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.store import PaymentStore


def summary():
    card = CardData()
    card.set_number("4111111111111111")
    return card.summary


EXPECTED = ExpectedPayment(1250, "EUR", "visa", "411111", "1111")
OURS = PaymentFacts(1250, "EUR", "visa", "411111", "1111")


@pytest.fixture
def ledger():
    return PaymentLedger(PaymentStore())


def begin(ledger, key_for=lambda attempt: attempt.id):
    return ledger.begin(money=Money(1250, "EUR"), gateway="sandbox", key_for=key_for,
                        summary=summary(), call_uuid="call-1", tenant="acme", flow="pay",
                        reference="INV-1")


def test_begin_records_a_pending_payment_under_a_key_built_from_the_attempt(ledger):
    seen = []
    begun = begin(ledger, key_for=lambda attempt: seen.append(attempt) or "key-%d" % attempt.number)
    [attempt] = seen
    assert attempt.id == begun.payment_id and uuid.UUID(attempt.id).version == 4
    assert attempt.number == 1 and attempt.store_tag == ledger.store.tag
    row = ledger.store.get(begun.payment_id)
    assert row["status"] == "pending" and not row["needs_reconciliation"]
    assert begun.idempotency_key == row["idempotency_key"] == "key-1" and row["number"] == 1
    assert (row["amount_minor"], row["currency"], row["gateway"]) == (1250, "EUR", "sandbox")
    assert (row["call_uuid"], row["tenant"], row["flow"], row["reference"]) == \
        ("call-1", "acme", "pay", "INV-1")
    assert row["card"] == "411111******1111" and row["brand"] == "visa"


def test_every_attempt_gets_its_own_key_even_on_the_same_call(ledger):
    keys = [begin(ledger).idempotency_key for _ in range(3)]
    assert len(set(keys)) == 3
    assert [r["number"] for r in ledger.store.list()] == [1, 2, 3]


@pytest.mark.parametrize("result,status,fields,flagged", [
    (Approved("A1B2C3", "T-9"), "approved", {"auth_code": "A1B2C3", "transaction_id": "T-9"}, False),
    (Declined("insufficient_funds"), "declined",
     {"decline_code": "insufficient_funds", "decline_reason": "The card has insufficient funds.",
      "gateway_code": ""}, False),
    (Declined("do_not_honour", "0190"), "declined",
     {"decline_code": "do_not_honour", "gateway_code": "0190"}, False),
    (GatewayError("connect", False, "refused"), "error", {"error_kind": "connect"}, False),
    (GatewayError("timeout", True, "no answer"), "unknown",
     {"error_kind": "timeout", "reconcile_note": "timeout: no answer"}, True),
    (GatewayError("http", True, "HTTP 502; status: no record of the key yet"), "unknown",
     {"error_kind": "http"}, True),
])
def test_finish_writes_the_gateways_answer(ledger, result, status, fields, flagged):
    payment_id = begin(ledger).payment_id
    assert ledger.finish(payment_id, result) == status
    row = ledger.store.get(payment_id)
    assert row["status"] == status and bool(row["needs_reconciliation"]) is flagged
    assert {k: row[k] for k in fields} == fields


def test_an_interrupted_payment_is_unknown_and_flagged(ledger):
    payment_id = begin(ledger).payment_id
    assert ledger.interrupted(payment_id) == "unknown"
    row = ledger.store.get(payment_id)
    assert row["needs_reconciliation"] and row["error_kind"] == "interrupted"
    assert "stopped before the gateway answered" in row["reconcile_note"]


def test_settle_writes_a_decision_for_this_payment_and_clears_the_flag(ledger):
    payment_id = begin(ledger).payment_id
    ledger.finish(payment_id, GatewayError("timeout", True))
    assert ledger.settle(payment_id, Approved("A1", "T1", OURS), EXPECTED) == "approved"
    row = ledger.store.get(payment_id)
    assert row["status"] == "approved" and row["auth_code"] == "A1"
    assert not row["needs_reconciliation"] and row["reconcile_note"] is None


@pytest.mark.parametrize("facts,why,says_ours", [
    (None, "does not say which amount and card", False),
    (PaymentFacts(990, "EUR", "visa", "411111", "1111"), "is for 9.90 EUR", True),
    (PaymentFacts(1250, "USD", "visa", "411111", "1111"), "is for 12.50 USD", True),
    (PaymentFacts(1250, "EUR", "mastercard", "555555", "4444"), "card mastercard 555555...4444", True),
    (PaymentFacts(1250, "EUR", "visa", "411111", "0000"), "card visa 411111...0000", True),
    (PaymentFacts(1250, "EUR"), "does not say which card", False),
])
def test_settle_leaves_a_decision_that_is_not_this_payments_flagged_saying_why(
        ledger, facts, why, says_ours):
    payment_id = begin(ledger).payment_id
    ledger.finish(payment_id, GatewayError("conflict", True, "key held"))
    assert ledger.settle(payment_id, Approved("OTHER1", "T-other", facts), EXPECTED) is None
    row = ledger.store.get(payment_id)
    assert row["status"] == "unknown" and row["needs_reconciliation"] and row["auth_code"] is None
    assert why in row["reconcile_note"]
    assert ("the payment is 12.50 EUR, card visa 411111...1111" in row["reconcile_note"]) is says_ours


def test_a_key_the_gateway_has_no_record_of_is_not_taken_as_not_charged(ledger):
    payment_id = begin(ledger).payment_id
    assert ledger.settle(payment_id, None, EXPECTED) is None
    row = ledger.store.get(payment_id)
    assert row["status"] == "unknown" and row["needs_reconciliation"]   # pending -> unknown
    assert row["reconcile_note"] == NO_RECORD


@pytest.mark.parametrize("reversed_,kind", [(False, CANCELLED), (True, REVERSED)])
def test_a_cancel_the_gateway_confirmed_closes_the_payment_as_not_charged(ledger, reversed_, kind):
    payment_id = begin(ledger).payment_id
    ledger.finish(payment_id, GatewayError("http", True, "HTTP 500"))
    assert ledger.settle(payment_id, Cancelled(reversed_), EXPECTED) == "error"
    row = ledger.store.get(payment_id)
    assert row["error_kind"] == kind and not row["needs_reconciliation"]


def test_settle_leaves_a_payment_the_gateway_still_cannot_answer_for(ledger):
    payment_id = begin(ledger).payment_id
    ledger.finish(payment_id, GatewayError("timeout", True))
    assert ledger.settle(payment_id, GatewayError("pending", True, "still working"), EXPECTED) is None
    row = ledger.store.get(payment_id)
    assert row["status"] == "unknown" and row["needs_reconciliation"]
    assert row["reconcile_note"] == "pending: still working"


def test_without_a_store_nothing_is_written_and_the_status_is_still_told():
    ledger = PaymentLedger(None)
    begun = begin(ledger)
    assert begun.payment_id == "" and uuid.UUID(begun.idempotency_key).version == 4
    assert ledger.finish("", GatewayError("timeout", True)) == "unknown"
    assert ledger.settle("", None, EXPECTED) is None
