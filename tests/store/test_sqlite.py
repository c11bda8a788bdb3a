"""The embedded backend's group commit: works that come together share one commit, each
undone alone when it fails, none returned before it is on disk, and the commit's wait on the
disk off the loop."""
import sqlite3

import gevent
import pytest
from gevent import monkey

from orchestrator.store.errors import StoreConflict, StoreError, StoreTimeout
from orchestrator.store.sqlite import SqliteBackend

blocking_sleep = monkey.get_original("time", "sleep")


class CommitProxy:
    """The backend's connection, its COMMIT slowed (blocking whatever thread runs it) or
    failed as a disk would."""

    def __init__(self, db, delay=0.0, fail=None, crash=None):
        self.db, self.delay, self.fail, self.crash = db, delay, fail, crash

    def execute(self, sql, *args):
        if sql == "COMMIT":
            blocking_sleep(self.delay)
            if self.fail:
                raise sqlite3.OperationalError(self.fail)
            if self.crash:
                raise self.crash
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


@pytest.fixture
def backend(tmp_path):
    store = SqliteBackend(str(tmp_path / "group.sqlite"))
    store.run(lambda tx: tx.execute("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    store.commits = 0
    yield store
    store.close()


def insert(name):
    def work(tx):
        tx.execute("INSERT INTO items (name) VALUES (?)", (name,))
        return name
    return work


def names_on_disk(path):
    """What another connection (another process would see the same) finds committed."""
    db = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in db.execute("SELECT name FROM items"))
    finally:
        db.close()


def test_works_that_come_together_share_one_commit(backend):
    jobs = [gevent.spawn(backend.run, insert("item%02d" % n)) for n in range(20)]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    assert [job.value for job in jobs] == ["item%02d" % n for n in range(20)]
    assert backend.commits == 1
    assert names_on_disk(backend.path) == ["item%02d" % n for n in range(20)]


def test_a_work_is_on_disk_when_it_returns(backend):
    for n in range(3):
        backend.run(insert("one%d" % n))
        assert names_on_disk(backend.path) == ["one%d" % m for m in range(n + 1)]
    assert backend.commits == 3


def test_a_failing_work_is_undone_alone(backend):
    def half_then_fail(tx):
        tx.execute("INSERT INTO items (name) VALUES ('broken')")
        raise ValueError("a bug in the work")

    works = [insert("before"), half_then_fail, insert("before"), insert("after")]
    jobs = [gevent.spawn(backend.run, work) for work in works]
    gevent.joinall(jobs, timeout=10)
    assert jobs[0].value == "before" and jobs[3].value == "after"
    assert isinstance(jobs[1].exception, ValueError)
    assert isinstance(jobs[2].exception, StoreConflict)    # the key taken by the first
    assert backend.commits == 1
    assert names_on_disk(backend.path) == ["after", "before"]
    assert backend.run(lambda tx: tx.execute("SELECT COUNT(*) FROM items"))[0][0] == 2


@pytest.mark.parametrize("commit, said", [
    (dict(fail="disk I/O error"), "disk I/O error"),               # the disk refused it
    (dict(crash=RuntimeError("the pool's thread failed")), "did not finish"),   # fate unknown
])
def test_a_commit_that_fails_or_never_finishes_fails_every_work_of_it_and_keeps_none(
        backend, commit, said):
    backend._db = CommitProxy(backend._db, **commit)
    jobs = [gevent.spawn(backend.run, insert("lost%d" % n)) for n in range(5)]
    gevent.joinall(jobs, timeout=10)
    for job in jobs:
        assert isinstance(job.exception, StoreError), job.exception
        assert said in str(job.exception)
    backend._db = backend._db.db
    assert names_on_disk(backend.path) == []
    backend.run(insert("next"))           # the store goes on; what was left open rolled back
    assert names_on_disk(backend.path) == ["next"]


def test_a_commit_slower_than_its_bound_is_an_error_that_says_so(tmp_path):
    path = str(tmp_path / "slow.sqlite")
    store = SqliteBackend(path, commit_timeout=0.1)
    store.run(lambda tx: tx.execute("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    store._db = CommitProxy(store._db, delay=0.5)
    with pytest.raises(StoreError, match="may or may not be on disk"):
        store.run(insert("late"))
    store._db = store._db.db
    store.run(insert("next"))             # the late commit finished meanwhile, then this one
    assert names_on_disk(path) == ["late", "next"]
    store.close()


def test_the_wait_for_the_disk_does_not_stop_the_loop(backend):
    backend._db = CommitProxy(backend._db, delay=0.3)
    ticks = []

    def tick():
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    ticker = gevent.spawn(tick)
    gevent.sleep(0)
    ticks.clear()
    backend.run(insert("slow"))
    ticker.kill()
    # about 30 ticks while the commit waited 0.3 s on its own thread; none on the loop
    assert len(ticks) >= 10
    assert names_on_disk(backend.path) == ["slow"]


def test_works_that_come_during_a_commit_wait_for_the_next(backend):
    backend._db = CommitProxy(backend._db, delay=0.2)
    first = gevent.spawn(backend.run, insert("first"))
    gevent.sleep(0.05)                    # the first commit is on its way
    later = [gevent.spawn(backend.run, insert("later%d" % n)) for n in range(5)]
    gevent.joinall([first] + later, timeout=10, raise_error=True)
    assert backend.commits == 2
    assert names_on_disk(backend.path) == ["first"] + ["later%d" % n for n in range(5)]


def test_close_commits_a_transaction_still_open(tmp_path):
    path = str(tmp_path / "close.sqlite")
    store = SqliteBackend(path)
    store.run(lambda tx: tx.execute("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    job = gevent.spawn(store.run, insert("kept"))
    gevent.sleep(0)                       # its work is in; its commit has not run yet
    store.close()
    job.join(timeout=5)
    assert job.value == "kept"
    assert names_on_disk(path) == ["kept"]


def test_a_write_lock_held_elsewhere_is_waited_for_without_stopping_the_loop(backend):
    other = sqlite3.connect(backend.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")          # another process writing
    ticks = []

    def tick():
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    def let_go():
        gevent.sleep(0.3)
        other.execute("COMMIT")

    ticker, releaser = gevent.spawn(tick), gevent.spawn(let_go)
    backend.run(insert("waited"))
    ticker.kill()
    releaser.join(timeout=5)
    other.close()
    assert len(ticks) >= 10                   # the loop went on meanwhile
    assert names_on_disk(backend.path) == ["waited"]


def test_a_write_lock_held_past_the_timeout_is_a_store_timeout(tmp_path):
    path = str(tmp_path / "busy.sqlite")
    store = SqliteBackend(path, timeout=0.2)
    store.run(lambda tx: tx.execute("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreTimeout):
        store.run(insert("never"))
    other.execute("ROLLBACK")
    store.run(insert("later"))                # the lock gone, the store works again
    other.close()
    assert names_on_disk(path) == ["later"]
    store.close()
