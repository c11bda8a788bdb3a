"""The store's coalescing writer (store/coalescing.py): the latest change of a key wins, a
failed write is tried again with the key's newest change, a refused one is dropped, and stop
writes what is left."""
import gevent

from orchestrator.store import coalescing
from orchestrator.store.coalescing import CoalescingWriter
from orchestrator.store.errors import StoreError
from tests.support.waiting import eventually


class Refused(Exception):
    pass


def test_changes_made_while_the_writer_waits_are_coalesced_by_key():
    written = []
    writer = CoalescingWriter("things", lambda key, change: written.append((key, change)))
    for state in ("a", "b", "c"):
        writer.put("one", state)
    writer.put("two", "x")
    assert writer.waiting == 2
    writer.start()
    eventually(lambda: writer.waiting == 0, timeout=5, what="the writes")
    writer.stop(1)
    assert written == [("one", "c"), ("two", "x")]


def test_a_failed_write_is_tried_again_with_the_newest_change(monkeypatch):
    monkeypatch.setattr(coalescing, "RETRY_BASE", 0.05)
    written, down = [], [True]

    def write(key, change):
        if down[0]:
            raise StoreError("the database is gone")
        written.append((key, change))

    writer = CoalescingWriter("things", write)
    writer.start()
    writer.put("one", "old")
    eventually(lambda: writer.failures > 0, timeout=5, what="a failed write")
    writer.put("one", "new")
    assert writer.waiting == 1
    down[0] = False
    eventually(lambda: writer.waiting == 0 and writer.failures == 0, timeout=10,
               what="the write once the store is back")
    writer.stop(1)
    assert written == [("one", "new")]


def test_a_change_the_store_refuses_is_dropped_and_the_others_written():
    written = []

    def write(key, change):
        if change == "bad":
            raise Refused("refused: %s" % key)
        written.append(key)

    writer = CoalescingWriter("things", write, refused=(Refused,))
    writer.put("one", "bad")
    writer.put("two", "good")
    writer.start()
    eventually(lambda: writer.waiting == 0, timeout=5, what="the writes")
    writer.stop(1)
    assert written == ["two"] and writer.failures == 0


def test_stop_writes_what_is_waiting_within_its_bound():
    written = []

    def slow(key, change):
        gevent.sleep(0.05)
        written.append(key)

    writer = CoalescingWriter("things", slow)
    writer.start()
    for n in range(5):
        writer.put(n, "x")
    writer.stop(5)
    assert written == [0, 1, 2, 3, 4]
