"""Conditional writes of a payment's outcome, on each backend: ``finish`` and ``flag`` with
``from_status`` (one status or several) write only a payment still in one of them, so that
of several writers at once (two reconciliations of one payment) one settles it, its outcome
hooks told once, and none flags it once it is settled."""
import gevent
import pytest

from orchestrator.store import StoreError, open_store
from tests.support.cards import make_card

UNSETTLED = ("pending", "unknown")


@pytest.fixture
def store(store_location):
    store = open_store(store_location)
    yield store
    store.close()


def pending(store, key):
    return store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key=key,
                       summary=make_card().summary, number=store.next_number())


def test_an_unsettled_payment_is_settled_once_by_concurrent_writers(store):
    payment = pending(store, "k-once")
    store.flag(payment, "timeout")                         # pending becomes unknown
    told = []
    store.outcome_hooks.append(lambda tx, row, reconciled: told.append(row["status"]))
    writers = [gevent.spawn(store.finish, payment, "approved", reconciled=True,
                            from_status=UNSETTLED, auth_code="A%d" % n) for n in range(4)]
    gevent.joinall(writers, timeout=30, raise_error=True)
    assert sorted(w.value for w in writers) == [False, False, False, True]
    assert told == ["approved"]
    row = store.get(payment)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == (
        "approved", 0, None)
    assert row["auth_code"] == "A%d" % [w.value for w in writers].index(True)


def test_a_settled_payment_is_not_flagged_by_a_conditional_flag(store):
    payment = pending(store, "k-flag")
    assert store.flag(payment, "no record yet", from_status=UNSETTLED) is True
    assert (store.get(payment)["status"], store.get(payment)["needs_reconciliation"]) == (
        "unknown", 1)
    assert store.finish(payment, "declined", reconciled=True, from_status=UNSETTLED) is True
    assert store.flag(payment, "no record yet", from_status=UNSETTLED) is False
    row = store.get(payment)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == (
        "declined", 0, None)
    store.flag(payment, "a person looks at it")            # unconditional: as it always was
    assert store.get(payment)["needs_reconciliation"] == 1


def test_a_conditional_write_still_refuses_an_unknown_payment_and_names_a_status(store):
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(StoreError, match="no payment"):
        store.finish(missing, "approved", from_status=UNSETTLED)
    with pytest.raises(StoreError, match="no payment"):
        store.flag(missing, "note", from_status=UNSETTLED)
    with pytest.raises(StoreError, match="at least one status"):
        store.finish(pending(store, "k-none"), "approved", from_status=())
