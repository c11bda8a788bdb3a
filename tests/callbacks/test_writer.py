"""What is written to the outbox, on each backend: the IVR's progress from its payment events,
the result in the very transaction that writes the payment's outcome (kept under a savepoint if
the callback cannot be written), ``reconciled`` when reconciliation settled it; masks and fixed
words only; only for tenants with a receiver; a row that cannot be stored is dropped, logged
and counted."""
import json
import logging

import pytest

from orchestrator.callbacks.outbox import Outbox
from orchestrator.callbacks.settings import ReceiverSettings
from orchestrator.callbacks.writer import OutboxWriter
from orchestrator.metrics import Metrics
from orchestrator.payments.events import (Authorizing, CallRef, FieldAccepted, FieldRejected,
                                          FieldStarted, PaymentApproved)
from orchestrator.payments.gateways.matching import ExpectedPayment
from orchestrator.payments.gateways.results import Approved, GatewayError, PaymentFacts
from orchestrator.payments.ledger import PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.store import StoreError
from tests.support.canary import traces
from tests.support.cards import make_card

RECEIVER = ReceiverSettings("http://127.0.0.1:9/callbacks", "0123456789abcdef")
CALL = CallRef("c0ffee00-0000-4000-8000-000000000001", "acme", "card_payment", "ps_1")


def writer_on(store, metrics=None, **receiver):
    writer = OutboxWriter(Outbox(store.backend), {"acme": ReceiverSettings(
        RECEIVER.url, RECEIVER.secret, **receiver)}, metrics)
    store.outcome_hooks.append(writer.on_outcome)
    return writer


def bodies(store, tenant="acme"):
    return [json.loads(row.body) for row in Outbox(store.backend).rows(tenant)]


def begin(store, tenant="acme"):
    card = make_card()
    return PaymentLedger(store).begin(money=Money(1250, "EUR"), gateway="sandbox",
                                      key_for=lambda attempt: "key-%s" % attempt.id,
                                      summary=card.summary, call_uuid=CALL.uuid, tenant=tenant,
                                      flow="card_payment", reference="INV-7")


def test_the_ivrs_progress_and_its_result_are_written_in_order_masked(store):
    writer = writer_on(store)
    card = make_card()
    begun = begin(store)
    for event in (FieldStarted("number", 1),
                  FieldAccepted("number", 1, card.masked, card.brand),
                  FieldStarted("expiry", 1), FieldRejected("expiry", 1, "invalid-date"),
                  FieldAccepted("expiry", 2, "**/**"),
                  Authorizing("sandbox", begun.payment_id, "visa", "1111")):
        writer.on_payment_event(CALL, event)
    PaymentLedger(store).finish(begun.payment_id, Approved("A1B2C3", "tx-1"))
    # the approval's event is the journal's to write, not the bus's: not twice
    writer.on_payment_event(CALL, PaymentApproved("sandbox", begun.payment_id, "A1B2C3", 0.2))
    written = bodies(store)
    assert [(b["seq"], b["type"]) for b in written] == [
        (1, "payment.field.started"), (2, "payment.field.accepted"),
        (3, "payment.field.started"), (4, "payment.field.rejected"),
        (5, "payment.field.accepted"), (6, "payment.authorizing"), (7, "payment.result")]
    assert written[1]["data"] == {"field": "number", "attempt": 1, "brand": "visa",
                                  "masked": "visa 411111******1111"}
    assert written[3]["data"]["error_type"] == "invalid-date"
    result = written[-1]
    assert result["data"] == {
        "status": "approved", "payment_id": begun.payment_id, "amount_minor": 1250,
        "currency": "EUR", "gateway": "sandbox", "brand": "visa", "card": "411111******1111",
        "reference": "INV-7", "auth_code": "A1B2C3", "reconciled": False}
    # the session and flow of the call that sent the card, as its progress had them
    assert {(b["call_uuid"], b["session_id"], b["flow"], b["tenant"]) for b in written} == {
        (CALL.uuid, "ps_1", "card_payment", "acme")}
    assert all(traces(json.dumps(b)) == [] for b in written)


def test_the_result_is_written_in_the_outcomes_transaction(store):
    writer_on(store)
    begun = begin(store)
    seen = []

    def look(tx, row, reconciled):
        # a later hook, in the same transaction: the callback's row is already there
        seen.append(tx.execute("SELECT type FROM outbox WHERE tenant = 'acme'"))
    store.outcome_hooks.append(look)
    PaymentLedger(store).finish(begun.payment_id, GatewayError("timeout", True, "no answer"))
    assert seen == [[("payment.result",)]]
    [result] = bodies(store)
    assert result["data"]["status"] == "unknown" and result["data"]["needs_reconciliation"]
    assert result["data"]["error_kind"] == "timeout"


def test_a_callback_that_cannot_be_written_leaves_the_outcome_kept(store, caplog):
    metrics = Metrics()
    writer = writer_on(store, metrics)
    begun = begin(store)
    real_add = writer.outbox.add

    def failing_add(tenant, type_, build, queue_size, max_body, tx=None):
        real_add(tenant, type_, build, queue_size, max_body, tx=tx)   # written, then...
        tx.execute("INSERT INTO no_such_table VALUES (1)")            # ...a statement fails
    writer.outbox.add = failing_add
    with caplog.at_level(logging.WARNING):
        PaymentLedger(store).finish(begun.payment_id, Approved("A1B2C3", "tx-1"))
    row = store.get(begun.payment_id)
    assert (row["status"], row["auth_code"]) == ("approved", "A1B2C3")
    assert bodies(store) == []                      # rolled back to the savepoint, whole
    assert metrics.registry.get_sample_value("payivr_outbox_dropped_total",
                                             {"tenant": "acme"}) == 1
    assert any("an outcome hook failed" in r.getMessage() for r in caplog.records)
    # and the store goes on: the next payment's callback is written, its seq after the lost one
    writer.outbox.add = real_add
    second = begin(store)
    PaymentLedger(store).finish(second.payment_id, Approved("D4E5F6", "tx-2"))
    [result] = bodies(store)
    assert result["data"]["auth_code"] == "D4E5F6" and result["seq"] == 1


def test_a_payment_reconciliation_settles_says_so(store):
    writer_on(store)
    begun = begin(store)
    ledger = PaymentLedger(store)
    ledger.finish(begun.payment_id, GatewayError("timeout", True, "no answer"))
    expected = ExpectedPayment.of_record(1250, "EUR", "visa", "411111******1111")
    found = Approved("R9", "tx-r", PaymentFacts(1250, "EUR", "visa", "411111", "1111"))
    assert ledger.settle(begun.payment_id, found, expected) == "approved"
    first, settled = bodies(store)
    assert (first["data"]["status"], first["data"]["reconciled"]) == ("unknown", False)
    assert (settled["data"]["status"], settled["data"]["reconciled"],
            settled["data"]["auth_code"]) == ("approved", True, "R9")


def test_only_tenants_with_a_receiver_get_rows(store):
    writer = writer_on(store)
    other = CallRef("c0ffee00-0000-4000-8000-000000000002", "beta", "card_payment")
    writer.on_payment_event(other, FieldStarted("number", 1))
    begun = begin(store, tenant="beta")
    PaymentLedger(store).finish(begun.payment_id, Approved("A1", "tx"))
    assert Outbox(store.backend).rows() == []


def test_what_does_not_fit_its_pattern_is_withheld(store):
    writer = writer_on(store)
    # a mask that is not one (a whole number), an error type off the list, a peer's words
    writer.on_payment_event(CALL, FieldAccepted("number", 1, "visa 4111111111111111", "visa"))
    writer.on_payment_event(CALL, FieldRejected("expiry", 1, "caller said 1230"))
    begun = begin(store)
    PaymentLedger(store).finish(begun.payment_id, Approved("4111111111111111", "tx"))
    accepted, rejected, result = bodies(store)
    assert accepted["data"]["masked"] == "withheld"
    assert rejected["data"]["error_type"] == "other"
    assert result["data"]["auth_code"] == "withheld"
    assert all(traces(json.dumps(b)) == [] for b in (accepted, rejected, result))


def test_past_queue_size_callbacks_are_dropped_logged_and_counted(store, caplog):
    metrics = Metrics()
    writer = writer_on(store, metrics, queue_size=2)
    with caplog.at_level(logging.WARNING, logger="orchestrator.callbacks.writer"):
        for attempt in (1, 2, 3, 4):
            writer.on_payment_event(CALL, FieldStarted("number", attempt))
    assert [b["data"]["attempt"] for b in bodies(store)] == [1, 2]
    assert metrics.registry.get_sample_value("payivr_outbox_dropped_total",
                                             {"tenant": "acme"}) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "status callback payment.field.started for acme dropped (seq %d): 2 rows are pending "
        "already (queue_size)" % seq for seq in (3, 4)]


def test_a_body_over_max_body_is_dropped_and_counted(store):
    metrics = Metrics()
    writer = writer_on(store, metrics, max_body=1024)

    class Session:
        id, tenant = "ps_9", "acme"

        def to_json(self):
            return {"id": self.id, "reference": "R" * 2000, "fields": {}, "result": None}
    writer.on_session_change(Session(), "state", {"state": "collecting"})
    assert bodies(store) == []
    assert metrics.registry.get_sample_value("payivr_outbox_dropped_total",
                                             {"tenant": "acme"}) == 1


def test_a_session_notice_with_a_card_like_run_is_never_written(store):
    metrics = Metrics()
    writer = writer_on(store, metrics)

    class Session:
        id, tenant = "ps_9", "acme"

        def to_json(self):
            return {"id": self.id, "fields": {"number": {"masked": "4111111111111111"}},
                    "result": None}
    writer.on_session_change(Session(), "field", {"field": "number"})
    assert bodies(store) == []
    assert metrics.registry.get_sample_value("payivr_outbox_dropped_total",
                                             {"tenant": "acme"}) == 1


def test_the_result_carries_the_details_the_payment_was_recorded_with(store):
    writer_on(store)
    card = make_card()
    details = {"invoices": "2026110001,2026120001", "customer": "C-1001"}
    begun = PaymentLedger(store).begin(money=Money(4490, "EUR"), gateway="sandbox",
                                       key_for=lambda attempt: "key-%s" % attempt.id,
                                       summary=card.summary, call_uuid=CALL.uuid, tenant="acme",
                                       flow="invoice_collection", reference="C-1001",
                                       details=details)
    assert json.loads(store.get(begun.payment_id)["details"]) == details
    PaymentLedger(store).finish(begun.payment_id, Approved("A1B2C3", "tx-1"))
    [result] = bodies(store)
    assert result["data"]["details"] == details and result["data"]["reference"] == "C-1001"


def test_details_that_break_a_rule_are_never_stored_nor_sent(store):
    writer_on(store)
    card = make_card()
    begun = begin(store)
    # written behind the journal's back (another program, an old release): sent as withheld
    store.backend.run(lambda tx: tx.execute("UPDATE payments SET details = ? WHERE id = ?",
                                            (json.dumps({"card": "4111111111111111"}),
                                             begun.payment_id)))
    PaymentLedger(store).finish(begun.payment_id, Approved("A1B2C3", "tx-1"))
    [result] = bodies(store)
    assert result["data"]["details"] == "withheld"
    assert traces(json.dumps(result)) == []
    with pytest.raises(StoreError, match="not an identifier") as refused:
        PaymentLedger(store).begin(money=Money(1250, "EUR"), gateway="sandbox",
                                   key_for=lambda attempt: "key-%s" % attempt.id,
                                   summary=card.summary, tenant="acme",
                                   details={"invoices": "4111 1111"})
    assert "4111" not in str(refused.value) and len(store.list()) == 1


def test_a_uuid_whose_hex_came_out_all_digits_is_no_card_number():
    """A call uuid's first group is all digits in about one uuid in 27: such a session's notice
    was dropped as card-like. A uuid is passed over; seven digits anywhere else still refuse."""
    from orchestrator.callbacks import bodies
    session = {"call_uuid": "52799114-1230-428d-9971-0a522415a5b5", "state": "ended"}
    assert not bodies.refuses(session)
    assert bodies.refuses(dict(session, reference="INV 4111111"))
    assert bodies.refuses({"note": "52799114-1230-428d-9971-0a522415a5b5x 4111111"})
