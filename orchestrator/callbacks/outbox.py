"""The ``outbox`` table (store migration 6): callbacks kept until their receiver has them.

A row is one event for one tenant's receiver: its id (the ``event_id`` receivers de-duplicate
by), the tenant's ``seq`` (1, 2, 3... per tenant, from the store's ``counters``, so instances
sharing the store never give one number twice), the exact body that is signed and sent, and
where its delivery stands: ``pending`` (with ``attempts``, ``next_attempt`` and the
``last_error``), ``delivered`` or ``given-up``.

Sending a row starts with a claim: ``claimed_by`` (the instance) and ``claimed_until``. A claim
is taken by one conditional update, which the store runs for one writer at a time (SQLite's
write lock; PostgreSQL re-reads the row under its lock), so two instances never hold one row
at once; a claim that outlives its holder (killed mid-request) lapses at ``claimed_until``.

Every time comes from ``clock`` (``time.time`` unless a test gives its own), so what depends
on time (due rows, max_age, lapsed claims) can be tested without waiting for it.
"""
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from orchestrator.store.backend import Backend, Row, Transaction

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "given-up"
STATES = (PENDING, DELIVERED, GIVEN_UP)
# What ``add`` did: stored; not stored because the tenant has queue_size rows pending
# already, or because the body is longer than max_body.
STORED, FULL, TOO_LARGE = "stored", "full", "too-large"
CANDIDATES = 8       # rows looked at beyond those a claim wants (see claim)
MAX_ERROR = 200      # characters of last_error kept (our words: a status, an exception's name)
COLUMNS = ("id", "tenant", "seq", "type", "body", "created", "state", "attempts",
           "next_attempt", "last_error", "finished", "claimed_by", "claimed_until")

BodyBuilder = Callable[[str, int, float], bytes]   # (event id, seq, created) -> the body


@dataclass(frozen=True)
class Added:
    outcome: str          # STORED, FULL or TOO_LARGE
    event_id: str
    seq: int              # taken even when not stored: the receiver sees the gap
    size: int = 0


@dataclass(frozen=True)
class OutboxRow:
    id: str
    tenant: str
    seq: int
    type: str
    body: bytes
    created: float
    state: str
    attempts: int
    next_attempt: float
    last_error: Optional[str]
    finished: Optional[float]
    claimed_by: Optional[str]
    claimed_until: Optional[float]


def _row(values: Row) -> OutboxRow:
    data = dict(zip(COLUMNS, values))
    data["body"] = str(data["body"]).encode("utf-8")
    data["seq"], data["attempts"] = int(data["seq"]), int(data["attempts"])
    return OutboxRow(**data)


class Outbox:
    def __init__(self, backend: Backend, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    # -- writing -------------------------------------------------------------------------
    def add(self, tenant: str, type_: str, build: BodyBuilder, queue_size: int, max_body: int,
            tx: Optional[Transaction] = None) -> Added:
        """Store one event for ``tenant``: its seq taken, its body built by ``build`` and kept
        as it is. In ``tx`` when given (the journal's outcome transaction), else in one of its
        own."""
        if tx is not None:
            return self._add(tx, tenant, type_, build, queue_size, max_body)
        return self.backend.run(lambda own: self._add(own, tenant, type_, build, queue_size,
                                                      max_body))

    def _add(self, tx: Transaction, tenant: str, type_: str, build: BodyBuilder,
             queue_size: int, max_body: int) -> Added:
        now = self.clock()
        event_id = str(uuid.uuid4())
        seq = self._next_seq(tx, tenant)
        waiting = int(tx.execute("SELECT COUNT(*) FROM outbox WHERE tenant = ? AND state = ?",
                                 (tenant, PENDING))[0][0])
        if waiting >= queue_size:
            return Added(FULL, event_id, seq)
        body = build(event_id, seq, now)
        if len(body) > max_body:
            return Added(TOO_LARGE, event_id, seq, len(body))
        tx.execute("INSERT INTO outbox (id, tenant, seq, type, body, created, state, attempts, "
                   "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                   (event_id, tenant, seq, type_, body.decode("utf-8"), now, PENDING, now))
        return Added(STORED, event_id, seq, len(body))

    @staticmethod
    def _next_seq(tx: Transaction, tenant: str) -> int:
        name = "outbox_seq:%s" % tenant
        tx.execute("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                   (name,))
        return int(tx.execute("UPDATE counters SET value = value + 1 WHERE name = ? "
                              "RETURNING value", (name,))[0][0])

    # -- sending -------------------------------------------------------------------------
    def claim(self, tenant: str, instance: str, hold: float, limit: int = 1) -> List[OutboxRow]:
        """Up to ``limit`` of ``tenant``'s due rows, oldest seq first, now held by ``instance``
        for ``hold`` seconds; none that another instance holds. A few more candidates than
        ``limit`` are looked at, so a worker that loses the oldest to another takes the next."""
        now = self.clock()

        def take(tx: Transaction) -> List[OutboxRow]:
            due = tx.execute(
                "SELECT id FROM outbox WHERE tenant = ? AND state = ? AND next_attempt <= ? "
                "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY seq LIMIT ?",
                (tenant, PENDING, now, now, limit + CANDIDATES))
            taken: List[OutboxRow] = []
            for (row_id,) in due:
                if len(taken) == limit:
                    break
                tx.execute("UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? "
                           "AND state = ? AND (claimed_until IS NULL OR claimed_until < ?)",
                           (instance, now + hold, row_id, PENDING, now))
                if tx.rowcount == 1:
                    taken += [_row(r) for r in tx.execute(
                        "SELECT %s FROM outbox WHERE id = ?" % ", ".join(COLUMNS), (row_id,))]
            return taken
        return self.backend.run(take)

    def expire(self, tenant: str, max_age: float) -> int:
        """Give up ``tenant``'s pending rows created more than ``max_age`` seconds ago (none
        that an instance holds now); how many."""
        now = self.clock()

        def give_up(tx: Transaction) -> int:
            tx.execute("UPDATE outbox SET state = ?, finished = ?, claimed_by = NULL, "
                       "claimed_until = NULL, last_error = ? WHERE tenant = ? AND state = ? "
                       "AND created < ? AND (claimed_until IS NULL OR claimed_until < ?)",
                       (GIVEN_UP, now, "older than max_age (%gs)" % max_age, tenant, PENDING,
                        now - max_age, now))
            return tx.rowcount
        return int(self.backend.run(give_up))

    def purge(self, tenant: str, finished_before: float) -> int:
        """Delete ``tenant``'s delivered and given-up rows finished before that time: the
        table keeps what is pending, and what is done for a while (for an operator to look
        at), not for ever."""
        def delete(tx: Transaction) -> int:
            tx.execute("DELETE FROM outbox WHERE tenant = ? AND state IN (?, ?) AND finished < ?",
                       (tenant, DELIVERED, GIVEN_UP, finished_before))
            return tx.rowcount
        return int(self.backend.run(delete))

    def delivered(self, row_id: str) -> None:
        """The receiver answered 2xx: done, whoever holds the row now."""
        now = self.clock()
        self.backend.run(lambda tx: tx.execute(
            "UPDATE outbox SET state = ?, finished = ?, claimed_by = NULL, claimed_until = NULL, "
            "attempts = attempts + 1, last_error = NULL WHERE id = ?", (DELIVERED, now, row_id)))

    def retry(self, row_id: str, instance: str, error: str, delay: float) -> bool:
        """An attempt failed and is worth another after ``delay`` seconds; False when the row
        is no longer ``instance``'s (its claim lapsed and another took it)."""
        now = self.clock()
        return self._release(row_id, instance, "state = ?, next_attempt = ?",
                             (PENDING, now + delay), error)

    def give_up(self, row_id: str, instance: str, error: str) -> bool:
        now = self.clock()
        return self._release(row_id, instance, "state = ?, finished = ?", (GIVEN_UP, now), error)

    def _release(self, row_id: str, instance: str, sets: str, values: Tuple[object, ...],
                 error: str) -> bool:
        def write(tx: Transaction) -> int:
            tx.execute("UPDATE outbox SET %s, attempts = attempts + 1, last_error = ?, "
                       "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND state = ? "
                       "AND claimed_by = ?" % sets,
                       values + (error[:MAX_ERROR], row_id, PENDING, instance))
            return tx.rowcount
        return bool(self.backend.run(write))

    # -- reading -------------------------------------------------------------------------
    def pending_by_tenant(self) -> Dict[str, Tuple[int, float]]:
        """``{tenant: (rows pending, created of the oldest)}``: what the metrics export."""
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT tenant, COUNT(*), MIN(created) FROM outbox WHERE state = ? GROUP BY tenant",
            (PENDING,)))
        return {str(tenant): (int(count), float(oldest)) for tenant, count, oldest in rows}

    def rows(self, tenant: Optional[str] = None) -> List[OutboxRow]:
        """Every row (of ``tenant``), in seq order: for tests, the bench and an operator."""
        where, args = ("WHERE tenant = ? ", (tenant,)) if tenant is not None else ("", ())
        return [_row(r) for r in self.backend.run(lambda tx: tx.execute(
            "SELECT %s FROM outbox %sORDER BY tenant, seq" % (", ".join(COLUMNS), where), args))]
