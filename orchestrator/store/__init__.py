"""Where payment outcomes are recorded: an embedded SQLite file, masked data only.

A payment is written as ``pending`` before the gateway is called and updated when it answers,
so a crash or a dropped connection in between leaves a record that says so; an outcome the
gateway could not confirm is kept ``unknown`` and flagged for reconciliation, never retried
under a new key. Rows hold brand, BIN and last four at most, as one masked value
(``411111******1111``): kept apart, BIN and last four would sit side by side in the file as a
run of ten card digits. ``begin`` refuses a summary that looks like anything else.

Every payment gets a number from the store's own counter (``next_number``), never given twice
by one store, and the store has a four-digit ``tag`` of its own: what a gateway whose keys must
be short (Redsys's order numbers) builds its keys from. The schema is versioned
(``migrations.py``): opening a store brings it to this code's version, or stops saying why.
"""
import re
import sqlite3
import threading
import time
import uuid as uuidlib
from typing import Dict, List, Optional, Protocol, Sequence, Tuple, TypedDict, cast

from .errors import StoreCannotOpen, StoreError
from .migrations import LATEST as SCHEMA_VERSION, current_version, migrate

__all__ = ["PaymentStore", "PaymentRow", "StoreError", "SCHEMA_VERSION", "STATUSES"]

STATUSES = ("pending", "approved", "declined", "error", "unknown")
COLUMNS = ("id", "created", "updated", "call_uuid", "tenant", "flow", "reference", "amount_minor",
           "currency", "gateway", "idempotency_key", "number", "brand", "card", "status",
           "auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
           "needs_reconciliation", "gateway_code", "reconcile_note")
# decline_code: the normalised reason; decline_reason: our words for it; gateway_code: the
# gateway's own code, checked (payments/gateways/results.py). Never the gateway's free text.
OUTCOME_FIELDS = ("auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
                  "gateway_code")
# Why a payment is (still) flagged, in our words: what reconciliation found, at most this long.
MAX_NOTE = 300


class PaymentRow(TypedDict):
    """One payment as stored; the outcome fields are None until the gateway has said."""
    id: str
    created: float
    updated: float
    call_uuid: Optional[str]
    tenant: Optional[str]
    flow: Optional[str]
    reference: Optional[str]
    amount_minor: int
    currency: str
    gateway: str
    idempotency_key: str
    number: Optional[int]
    brand: Optional[str]
    card: Optional[str]
    status: str
    auth_code: Optional[str]
    transaction_id: Optional[str]
    decline_code: Optional[str]
    decline_reason: Optional[str]
    error_kind: Optional[str]
    needs_reconciliation: int
    gateway_code: Optional[str]
    reconcile_note: Optional[str]


class MaskedCard(Protocol):
    """What ``begin`` keeps of a card (``CardData.summary``): brand, BIN and last four."""

    @property
    def brand(self) -> str: ...

    @property
    def bin(self) -> str: ...

    @property
    def last4(self) -> str: ...


class PaymentStore:
    """SQLite on a path (``:memory:`` for tests); calls are short and serialised by a lock.

    Raises StoreError when the file cannot be opened as a store: not a database, a schema
    newer than this code, a layout it does not recognise, or a migration that failed."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        where = "payment store %s" % path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                       timeout=10.0)
        except sqlite3.Error as error:
            raise StoreCannotOpen(path, str(error)) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:"
                             else "PRAGMA journal_mode=MEMORY")
            # what a row held before an update (a BIN and last four once kept apart) is zeroed
            self._db.execute("PRAGMA secure_delete=ON")
            self.migrations_applied = migrate(self._db, where)
            self.tag = str(self._db.execute(
                "SELECT value FROM store_meta WHERE name = 'tag'").fetchone()[0])
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError("%s cannot be used: %s" % (where, error)) from None

    @property
    def schema_version(self) -> int:
        with self._lock:
            return current_version(self._db) or 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def next_number(self) -> int:
        """The next payment number of this store: 1, 2, 3...; never the same one twice, even
        when two processes share the file (the increment and the read are one transaction)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'payment_number'")
                number = int(self._db.execute(
                    "SELECT value FROM counters WHERE name = 'payment_number'").fetchone()[0])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return number

    def begin(self, *, amount_minor: int, currency: str, gateway: str, idempotency_key: str,
              summary: MaskedCard, payment_id: Optional[str] = None,
              number: Optional[int] = None, call_uuid: str = "", tenant: str = "default",
              flow: str = "", reference: str = "") -> str:
        """Record a payment about to be sent to the gateway; returns its id (``payment_id``, or
        a new one). StoreError when the key or the number is already taken: a key names one
        payment attempt and is never reused."""
        card = "%s%s%s" % (summary.bin, "*" * 6, summary.last4)
        if not re.fullmatch(r"\d{6}\*{6}\d{4}", card):
            raise StoreError("a card summary holds a six-digit BIN and the last four, nothing else")
        payment_id = payment_id or str(uuidlib.uuid4())
        now = time.time()
        row = dict(id=payment_id, created=now, updated=now, call_uuid=call_uuid, tenant=tenant,
                   flow=flow, reference=reference, amount_minor=int(amount_minor), currency=currency,
                   gateway=gateway, idempotency_key=idempotency_key, number=number,
                   brand=summary.brand, card=card, status="pending")
        try:
            with self._lock:
                self._db.execute("INSERT INTO payments (%s) VALUES (%s)" % (
                    ", ".join(row), ", ".join("?" for _ in row)), list(row.values()))
        except sqlite3.IntegrityError as error:
            raise StoreError("payment not recorded: %s" % error) from None
        return payment_id

    def finish(self, payment_id: str, status: str, needs_reconciliation: bool = False,
               note: Optional[str] = None, **outcome: str) -> None:
        """Write a payment's outcome (``OUTCOME_FIELDS``), its new status and the note that says
        why it is flagged (cleared when None)."""
        if status not in STATUSES:
            raise StoreError("unknown status %r" % status)
        unknown = set(outcome) - set(OUTCOME_FIELDS)
        if unknown:
            raise StoreError("unknown outcome fields %s" % ", ".join(sorted(unknown)))
        fields: Dict[str, object] = dict(outcome, status=status, updated=time.time(),
                                         needs_reconciliation=1 if needs_reconciliation else 0,
                                         reconcile_note=_note(note))
        self._update(payment_id, fields)

    def flag(self, payment_id: str, note: str) -> None:
        """Keep a payment flagged for reconciliation, saying why (a check that failed, an
        answer that did not settle it). Its outcome stays as it is; a ``pending`` one becomes
        ``unknown``: it is not in flight any more, it is not known."""
        self._update(payment_id, {"needs_reconciliation": 1, "reconcile_note": _note(note)},
                     "status = CASE WHEN status = 'pending' THEN 'unknown' ELSE status END, ")

    def _update(self, payment_id: str, fields: Dict[str, object], also: str = "") -> None:
        with self._lock:
            changed = self._db.execute(
                "UPDATE payments SET %s%s WHERE id = ?" % (
                    also, ", ".join("%s = ?" % k for k in fields)),
                list(fields.values()) + [payment_id]).rowcount
        if not changed:
            raise StoreError("no payment %s" % payment_id)

    def get(self, payment_id: str) -> Optional[PaymentRow]:
        rows = self._select("WHERE id = ?", (payment_id,))
        return rows[0] if rows else None

    def list(self, status: Optional[str] = None,
             needs_reconciliation: Optional[bool] = None) -> List[PaymentRow]:
        clauses: List[str] = []
        args: List[object] = []
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if needs_reconciliation is not None:
            clauses.append("needs_reconciliation = ?")
            args.append(1 if needs_reconciliation else 0)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select(where + " ORDER BY created", args)

    def backlog(self, pending_after: float, now: Optional[float] = None
                ) -> Dict[str, Tuple[int, Optional[float]]]:
        """What awaits reconciliation, by status: ``{status: (count, oldest created)}``.

        Flagged payments, and payments still ``pending`` though nothing has touched them for
        ``pending_after`` seconds (the process that sent them died before the gateway
        answered: nothing else will settle them)."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*), MIN(created) FROM payments "
                "WHERE needs_reconciliation = 1 OR (status = 'pending' AND updated < ?) "
                "GROUP BY status", (now - pending_after,)).fetchall()
        return {str(status): (int(count), oldest) for status, count, oldest in rows}

    def _select(self, tail: str, args: Sequence[object]) -> List[PaymentRow]:
        with self._lock:
            rows = self._db.execute("SELECT %s FROM payments %s" % (", ".join(COLUMNS), tail),
                                    list(args)).fetchall()
        return [cast(PaymentRow, dict(zip(COLUMNS, row))) for row in rows]


def _note(note: Optional[str]) -> Optional[str]:
    if note is None:
        return None
    text = " ".join(str(note).split())
    return text[:MAX_NOTE - 1] + "…" if len(text) > MAX_NOTE else text
