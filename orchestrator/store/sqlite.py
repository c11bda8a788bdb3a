"""The embedded backend: one SQLite file (``:memory:`` in tests), the default.

One connection, its calls serialised by a lock, each ``run`` one ``BEGIN IMMEDIATE``
transaction: short, so a second process sharing the file waits its turn (``timeout``) rather
than failing. SQLite's calls do not yield to other greenlets; they take milliseconds on a
local disk, which is why this backend is for one instance on one host (PostgreSQL is for
several, and for a database that may be slow or far).
"""
import sqlite3
import threading
from typing import Callable, List, Sequence, TypeVar

from .backend import Row, StoreHealth, Transaction
from .errors import StoreCannotOpen, StoreConflict, StoreError, StoreTimeout
from .migrations import migrate

T = TypeVar("T")


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


class SqliteBackend:
    kind = "sqlite"

    def __init__(self, path: str = ":memory:", timeout: float = 10.0) -> None:
        self.path = path
        self.where = "payment store %s" % path
        self.health = StoreHealth(self.kind)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                       timeout=timeout)
        except sqlite3.Error as error:
            raise StoreCannotOpen(path, str(error)) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:"
                             else "PRAGMA journal_mode=MEMORY")
            # what a row held before an update (a BIN and last four once kept apart) is zeroed
            self._db.execute("PRAGMA secure_delete=ON")
            self.migrations_applied = migrate(self._db, self.where)
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError("%s cannot be used: %s" % (self.where, error)) from None

    def run(self, work: Callable[[Transaction], T]) -> T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(_Transaction(self._db))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except StoreConflict:
                self.health.failed("conflict", "a unique key already taken")
                raise
            except sqlite3.OperationalError as error:
                locked = "locked" in str(error) or "busy" in str(error)
                self.health.failed("timeout" if locked else "query", str(error))
                raise (StoreTimeout if locked else StoreError)(
                    "%s: %s" % (self.where, error)) from None
            except sqlite3.Error as error:
                self.health.failed("query", str(error))
                raise StoreError("%s: %s" % (self.where, error)) from None
        return result

    def close(self) -> None:
        with self._lock:
            self._db.close()
