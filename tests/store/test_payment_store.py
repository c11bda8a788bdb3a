"""The payment store, on SQLite and on PostgreSQL alike: numbers never given twice (even to
processes at once), keys never reused, flags with their notes, and the reconciliation backlog
as the metric reads it."""
import os
import subprocess
import sys
import time

import pytest

from orchestrator.store import StoreError, open_store
from tests.support.cards import make_card
from tests.support.service import REPO

ALLOCATE = """
import sys
from orchestrator.store import open_store
store = open_store(sys.argv[1])
print(" ".join(str(store.next_number()) for _ in range(int(sys.argv[2]))))
"""


def begin(store, key, **extra):
    return store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key=key,
                       summary=make_card().summary, **extra)


def test_numbers_are_never_given_twice_even_to_processes_sharing_the_store(store_location):
    open_store(store_location).close()
    workers = [subprocess.Popen([sys.executable, "-c", ALLOCATE, store_location, "150"], cwd=REPO,
                                stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=REPO)) for _ in range(4)]
    numbers = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(1, 601))


def test_a_key_or_a_number_is_recorded_once(store_location):
    store = open_store(store_location)
    begin(store, "key-once-0001", number=7)
    with pytest.raises(StoreError, match="payment not recorded"):
        begin(store, "key-once-0001", number=8)
    with pytest.raises(StoreError, match="payment not recorded"):
        begin(store, "key-once-0002", number=7)
    assert [r["idempotency_key"] for r in store.list()] == ["key-once-0001"]


def test_a_flag_keeps_the_outcome_says_why_and_makes_a_pending_payment_unknown(store_location):
    store = open_store(store_location)
    pending = begin(store, "key-flag-00001")
    store.flag(pending, "the gateway has no record of the key yet")
    row = store.get(pending)
    assert (row["status"], row["needs_reconciliation"]) == ("unknown", 1)
    assert row["reconcile_note"] == "the gateway has no record of the key yet"
    store.finish(pending, "approved", auth_code="A1")
    row = store.get(pending)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == ("approved", 0, None)
    store.flag(pending, "x " * 400)
    assert len(store.get(pending)["reconcile_note"]) == 300


def test_the_backlog_counts_flagged_payments_and_pending_ones_left_behind(store_location):
    store = open_store(store_location)
    assert store.backlog(300) == {}
    unknown = begin(store, "key-backlog-01")
    store.finish(unknown, "unknown", needs_reconciliation=True, note="timeout: no answer")
    begin(store, "key-backlog-02")                                   # in flight
    settled = begin(store, "key-backlog-03")
    store.finish(settled, "approved", auth_code="A1")
    now = time.time()
    backlog = store.backlog(300, now)
    assert list(backlog) == ["unknown"] and backlog["unknown"][0] == 1
    later = store.backlog(300, now + 301)                             # the pending one left behind
    assert {state: count for state, (count, _) in later.items()} == {"unknown": 1, "pending": 1}
    assert later["unknown"][1] == store.get(unknown)["created"]


def test_a_row_holds_what_was_written_in_the_types_written(store_location):
    """Times keep their fraction of a second, amounts and numbers past 2^31 stay whole."""
    store = open_store(store_location)
    payment = store.begin(amount_minor=2 ** 33, currency="EUR", gateway="sandbox",
                          idempotency_key="key-types-001", summary=make_card().summary,
                          number=2 ** 32 + 5, call_uuid="c-types", tenant="acme",
                          flow="card_payment", reference="INV-9")
    store.finish(payment, "declined", decline_code="insufficient-funds",
                 decline_reason="not enough funds", gateway_code="51")
    row = store.get(payment)
    assert (row["amount_minor"], row["number"]) == (2 ** 33, 2 ** 32 + 5)
    assert abs(row["updated"] - time.time()) < 60 and row["updated"] != int(row["updated"])
    assert row["card"] == "411111******1111" and row["brand"] == "visa"
    assert (row["status"], row["gateway_code"], row["auth_code"]) == ("declined", "51", None)
    assert store.get("no-such-payment") is None
    with pytest.raises(StoreError, match="no payment"):
        store.finish("no-such-payment", "approved")


def test_a_store_reopened_keeps_its_payments_its_tag_and_its_count(store_location):
    first = open_store(store_location)
    begin(first, "key-reopen-001", number=first.next_number())
    first.close()
    again = open_store(store_location)
    assert again.migrations_applied == [] and again.tag == first.tag
    assert [r["idempotency_key"] for r in again.list()] == ["key-reopen-001"]
    assert again.next_number() == 2
