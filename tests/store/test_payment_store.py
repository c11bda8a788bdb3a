"""The payment store: numbers never given twice (even to two processes at once), keys never
reused, flags with their notes, and the reconciliation backlog as the metric reads it."""
import os
import subprocess
import sys
import time

import pytest

from orchestrator.store import PaymentStore, StoreError
from tests.support.cards import make_card
from tests.support.service import REPO

ALLOCATE = """
import sys
from orchestrator.store import PaymentStore
store = PaymentStore(sys.argv[1])
print(" ".join(str(store.next_number()) for _ in range(int(sys.argv[2]))))
"""


def begin(store, key, **extra):
    return store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key=key,
                       summary=make_card().summary, **extra)


def test_numbers_are_never_given_twice_even_to_processes_sharing_the_file(tmp_path):
    path = str(tmp_path / "payments.sqlite")
    PaymentStore(path).close()
    workers = [subprocess.Popen([sys.executable, "-c", ALLOCATE, path, "150"], cwd=REPO,
                                stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=REPO)) for _ in range(4)]
    numbers = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(1, 601))


def test_a_key_or_a_number_is_recorded_once(tmp_path):
    store = PaymentStore()
    begin(store, "key-once-0001", number=7)
    with pytest.raises(StoreError, match="payment not recorded"):
        begin(store, "key-once-0001", number=8)
    with pytest.raises(StoreError, match="payment not recorded"):
        begin(store, "key-once-0002", number=7)
    assert [r["idempotency_key"] for r in store.list()] == ["key-once-0001"]


def test_a_flag_keeps_the_outcome_says_why_and_makes_a_pending_payment_unknown():
    store = PaymentStore()
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


def test_the_backlog_counts_flagged_payments_and_pending_ones_left_behind():
    store = PaymentStore()
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
