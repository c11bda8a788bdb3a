"""The embedded backend: one SQLite file (``:memory:`` in tests), the default.

One connection. Each ``run`` is one unit of work, but not one transaction of its own: the
works that come while a commit is on its way join the next one (group commit, as database
servers do it), each under a savepoint of its own, so a work that fails is undone alone and
only its caller hears of it. A work's caller gets its result once the transaction holding it
is committed, on disk: a payment recorded is durable when ``begin`` returns.

The commit (the ``fsync`` of the write-ahead log, about a millisecond of waiting on a local
disk and a third of one of the kernel's CPU) runs on a native thread of gevent's pool, so the
service's calls go on meanwhile; before, every commit stopped the whole process (17.8% of the
service's busy time on the card load), and three or four commits a paid call were three or
four fsyncs where one now serves every payment of the moment. The statements themselves stay
on the loop, quick and in order under one lock. The transaction is ``BEGIN IMMEDIATE``, so a
second process sharing the file waits its turn (up to ``timeout``, then ``StoreTimeout``)
rather than failing; the wait is this greenlet's alone (SQLite's own busy wait would sleep the
whole process). Writers take turns on one file, which is why this backend is for one instance
on one host (PostgreSQL is for several, and for a database that may be slow or far).
"""
import sqlite3
import time
from typing import Callable, List, Optional, Sequence, TypeVar

import gevent
import gevent.event
import gevent.lock

from .backend import Row, StoreHealth, Transaction
from .errors import StoreCannotOpen, StoreConflict, StoreError, StoreTimeout
from .migrations import migrate

T = TypeVar("T")
WORK_SAVEPOINT = "store_work"
BUSY_FIRST_PAUSE, BUSY_LONGEST_PAUSE = 0.001, 0.05   # seconds between tries of a busy BEGIN
COMMIT_TIMEOUT = 30.0     # seconds a work waits for its commit: a disk that takes longer has failed


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error)
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.rowcount = 0

    def execute(self, sql: str, args: Sequence[object] = ()) -> List[Row]:
        try:
            cursor = self._db.execute(sql, list(args))
        except sqlite3.IntegrityError as error:
            raise StoreConflict(str(error)) from None
        self.rowcount = cursor.rowcount
        return cursor.fetchall()


class _Batch:
    """The works of one transaction: committed together, told together."""

    def __init__(self) -> None:
        self.done = gevent.event.Event()
        self.error: Optional[StoreError] = None


class SqliteBackend:
    kind = "sqlite"

    def __init__(self, path: str = ":memory:", timeout: float = 10.0,
                 commit_timeout: float = COMMIT_TIMEOUT) -> None:
        self.path = path
        self.where = "payment store %s" % path
        self.health = StoreHealth(self.kind)
        self._lock = gevent.lock.Semaphore()
        self._batch: Optional[_Batch] = None
        # nothing to wait for in memory: its commit is quicker than a thread's hand-over
        self._commit_off_loop = path != ":memory:"
        self._busy_timeout = timeout
        self._commit_timeout = commit_timeout
        self.commits = 0          # transactions committed (or tried): what the tests count
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                       timeout=timeout)
        except sqlite3.Error as error:
            raise StoreCannotOpen(path, str(error)) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:"
                             else "PRAGMA journal_mode=MEMORY")
            # every commit synced: a payment recorded survives the machine's power failing
            self._db.execute("PRAGMA synchronous=FULL")
            # what a row held before an update (a BIN and last four once kept apart) is zeroed
            self._db.execute("PRAGMA secure_delete=ON")
            self.migrations_applied = migrate(self._db, self.where)
            # from now on a lock held elsewhere is waited for here, by this greenlet alone
            # (``_begin``): SQLite's own wait sleeps the whole process
            self._db.execute("PRAGMA busy_timeout = 0")
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError("%s cannot be used: %s" % (self.where, error)) from None

    def run(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            batch = self._batch or self._open_batch()
            result = self._run_in(batch, work)
        if not batch.done.wait(timeout=self._commit_timeout):
            # the commit may still finish: whether the work is on disk is not known
            self.health.failed("timeout", "no commit within %gs" % self._commit_timeout)
            raise StoreError("%s: the commit did not finish within %gs; the write may or may "
                             "not be on disk" % (self.where, self._commit_timeout))
        if batch.error is not None:
            # each caller its own exception: one raised in several greenlets shares a traceback
            raise type(batch.error)(str(batch.error))
        return result

    def _open_batch(self) -> _Batch:
        """A new transaction, and its commit queued behind the works already waiting for the
        lock: they join it, the ones that come later wait for the next."""
        self._begin()
        batch = self._batch = _Batch()
        gevent.spawn(self._commit, batch)
        return batch

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, waiting cooperatively while another connection (another
        process, or another backend on the file) holds the write lock, up to ``timeout``."""
        deadline = time.monotonic() + self._busy_timeout
        pause = BUSY_FIRST_PAUSE
        while True:
            try:
                if self._db.in_transaction:   # orphaned by a commit that never finished
                    self._db.execute("ROLLBACK")
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() >= deadline:
                    raise self._failed(error) from None
            except sqlite3.Error as error:
                raise self._failed(error) from None
            gevent.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, BUSY_LONGEST_PAUSE)

    def _run_in(self, batch: _Batch, work: Callable[[Transaction], T]) -> T:
        try:
            self._db.execute("SAVEPOINT %s" % WORK_SAVEPOINT)
        except sqlite3.Error as error:
            raise self._failed(error) from None
        try:
            result = work(_Transaction(self._db))
        except BaseException as error:
            try:
                self._db.execute("ROLLBACK TO SAVEPOINT %s" % WORK_SAVEPOINT)
                self._db.execute("RELEASE SAVEPOINT %s" % WORK_SAVEPOINT)
            except sqlite3.Error as undo:
                # the connection cannot undo this work: the whole transaction goes
                batch.error = self._failed(undo)
            if isinstance(error, StoreConflict):
                self.health.failed("conflict", "a unique key already taken")
                raise
            if isinstance(error, sqlite3.Error):
                raise self._failed(error) from None
            raise
        try:
            self._db.execute("RELEASE SAVEPOINT %s" % WORK_SAVEPOINT)
        except sqlite3.Error as error:
            # whether the work stays is not known: the whole transaction goes, every work
            # of it told, rather than one told it failed and kept
            batch.error = self._failed(error)
            raise type(batch.error)(str(batch.error)) from None
        return result

    def _commit(self, batch: _Batch) -> None:
        with self._lock:
            self._finish(batch)

    def _finish(self, batch: _Batch) -> None:
        """Commit ``batch`` (the lock held): every work in it hears how it went."""
        if self._batch is not batch:
            return
        self._batch = None
        self.commits += 1
        try:
            if batch.error is None:
                try:
                    if self._commit_off_loop:
                        gevent.get_hub().threadpool.apply(self._db.execute, ("COMMIT",))
                    else:
                        self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    batch.error = self._failed(error)
                except BaseException as error:
                    # killed, or the pool failed: the commit's fate is not known, and no
                    # work of it may be told it is on disk (the next BEGIN rolls back what
                    # is left open)
                    batch.error = StoreError("%s: the commit did not finish (%s)"
                                             % (self.where, type(error).__name__))
                    raise
            if batch.error is not None:
                try:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        finally:
            batch.done.set()

    def _failed(self, error: sqlite3.Error) -> StoreError:
        """The StoreError for ``error``, told to ``health``."""
        text = str(error)
        locked = _is_busy(error)
        self.health.failed("timeout" if locked else "query", text)
        return (StoreTimeout if locked else StoreError)("%s: %s" % (self.where, text))

    def close(self) -> None:
        with self._lock:
            if self._batch is not None:
                self._finish(self._batch)
            self._db.close()
