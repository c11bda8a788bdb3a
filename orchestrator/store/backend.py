"""What a store backend is: somewhere to run one short transaction, and a word on its health.

The payment journal (``journal.py``), the agent sessions table (``sessions.py``) and any table
added later are written once, over this, in SQL that SQLite and PostgreSQL both accept, with
``?`` for each parameter; a backend (``sqlite.py``, ``postgres.py``) turns that into its
driver's calls. What differs between the two and cannot be said in common SQL is asked of the
backend by name (``kind``), in the one place that needs it.

``run(work)`` runs ``work(tx)`` as one transaction and returns what it returned. A backend
whose connection can be lost (PostgreSQL) runs it again on a fresh connection, a bounded number
of times, so ``work`` must be safe to run twice: every statement of the store is (an update
writes the same values; an insert that finds its own row from an earlier attempt is no
conflict, ``journal.begin`` checks). Any failure comes out as a ``StoreError`` (errors.py).
"""
import threading
import time
from typing import Any, Callable, List, Optional, Protocol, Sequence, Tuple, TypeVar

T = TypeVar("T")
Row = Tuple[Any, ...]
# Why a store operation failed, as metrics count it (payivr_store_errors_total{kind}).
ERROR_KINDS = ("connection", "timeout", "busy", "conflict", "query")


class Transaction(Protocol):
    def execute(self, sql: str, args: Sequence[object] = ()) -> List[Row]:
        """Run one statement (``?`` placeholders); its rows (empty for a write). A unique key
        already taken raises ``StoreConflict``."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement wrote."""


class Backend(Protocol):
    kind: str                 # "sqlite" or "postgresql"
    where: str                # names the store in messages (never a password)
    health: "StoreHealth"

    def run(self, work: Callable[[Transaction], T]) -> T: ...

    def close(self) -> None: ...


class StoreHealth:
    """Whether the store answered last time it was asked, since when, and why not: what
    ``/readyz`` shows and ``payivr_store_up`` exports. ``on_error(kind)`` (metrics) hears each
    failure; it must not block."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.up = True
        self.reason = ""
        self.since = time.time()
        self.on_error: Optional[Callable[[str], None]] = None
        self._lock = threading.Lock()

    def succeeded(self) -> None:
        with self._lock:
            if not self.up:
                self.up, self.reason, self.since = True, "", time.time()

    def failed(self, kind: str, reason: str, reachable: bool = True) -> None:
        """A store operation failed: ``reachable`` False when the database could not be
        reached at all (the store is down until an operation succeeds again)."""
        with self._lock:
            if not reachable and self.up:
                self.up, self.since = False, time.time()
            if not reachable:
                self.reason = reason
        if self.on_error is not None:
            try:
                self.on_error(kind if kind in ERROR_KINDS else "query")
            except Exception:   # a metric's fault must never reach a payment
                pass

    def status(self) -> dict:
        """For ``/readyz``: ``{"backend", "up", "since"[, "reason"]}``."""
        with self._lock:
            status = {"backend": self.backend, "up": self.up, "since": round(self.since, 3)}
            if not self.up:
                status["reason"] = self.reason
            return status
