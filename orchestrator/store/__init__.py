"""Where payment outcomes are recorded: an embedded SQLite file, masked data only.

A payment is written as ``pending`` before the gateway is called and updated when it answers,
so a crash or a dropped connection in between leaves a record that says so; an outcome the
gateway could not confirm is kept ``unknown`` and flagged for reconciliation, never retried
under a new key. Rows hold brand, BIN and last four at most, as one masked value
(``411111******1111``): kept apart, BIN and last four would sit side by side in the file as a
run of ten card digits. ``begin`` refuses a summary that looks like anything else.
"""
import re
import sqlite3
import threading
import time
import uuid as uuidlib
from typing import Dict, List, Optional, Protocol, Sequence, TypedDict, cast

STATUSES = ("pending", "approved", "declined", "error", "unknown")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    call_uuid TEXT, tenant TEXT, flow TEXT, reference TEXT,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    gateway TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    brand TEXT, card TEXT,
    status TEXT NOT NULL,
    auth_code TEXT, transaction_id TEXT, decline_code TEXT, decline_reason TEXT, error_kind TEXT,
    needs_reconciliation INTEGER NOT NULL DEFAULT 0, gateway_code TEXT
)"""
# Columns added since the first release, each with its type: an older file gets them on open.
_ADDED_COLUMNS = (("gateway_code", "TEXT"),)
COLUMNS = ("id", "created", "updated", "call_uuid", "tenant", "flow", "reference", "amount_minor",
           "currency", "gateway", "idempotency_key", "brand", "card", "status",
           "auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
           "needs_reconciliation", "gateway_code")
# decline_code: the normalised reason; decline_reason: our words for it; gateway_code: the
# gateway's own code, checked (payments/gateways/results.py). Never the gateway's free text.
OUTCOME_FIELDS = ("auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
                  "gateway_code")


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


class MaskedCard(Protocol):
    """What ``begin`` keeps of a card (``CardData.summary``): brand, BIN and last four."""

    @property
    def brand(self) -> str: ...

    @property
    def bin(self) -> str: ...

    @property
    def last4(self) -> str: ...


class StoreError(Exception):
    pass


class PaymentStore:
    """SQLite on a path (``:memory:`` for tests); calls are short and serialised by a lock."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.execute(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(payments)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in present:
                self._db.execute("ALTER TABLE payments ADD COLUMN %s %s" % (name, kind))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def begin(self, *, amount_minor: int, currency: str, gateway: str, idempotency_key: str,
              summary: MaskedCard, call_uuid: str = "", tenant: str = "default", flow: str = "",
              reference: str = "") -> str:
        """Record a payment about to be sent to the gateway; returns its id."""
        card = "%s%s%s" % (summary.bin, "*" * 6, summary.last4)
        if not re.fullmatch(r"\d{6}\*{6}\d{4}", card):
            raise StoreError("a card summary holds a six-digit BIN and the last four, nothing else")
        payment_id = str(uuidlib.uuid4())
        now = time.time()
        row = dict(id=payment_id, created=now, updated=now, call_uuid=call_uuid, tenant=tenant,
                   flow=flow, reference=reference, amount_minor=int(amount_minor), currency=currency,
                   gateway=gateway, idempotency_key=idempotency_key, brand=summary.brand,
                   card=card, status="pending")
        with self._lock:
            self._db.execute("INSERT INTO payments (%s) VALUES (%s)" % (
                ", ".join(row), ", ".join("?" for _ in row)), list(row.values()))
        return payment_id

    def finish(self, payment_id: str, status: str, needs_reconciliation: bool = False,
               **outcome: str) -> None:
        """Write a payment's outcome (``OUTCOME_FIELDS``) and its new status."""
        if status not in STATUSES:
            raise StoreError("unknown status %r" % status)
        unknown = set(outcome) - set(OUTCOME_FIELDS)
        if unknown:
            raise StoreError("unknown outcome fields %s" % ", ".join(sorted(unknown)))
        fields: Dict[str, object] = dict(outcome, status=status, updated=time.time(),
                                         needs_reconciliation=1 if needs_reconciliation else 0)
        with self._lock:
            changed = self._db.execute(
                "UPDATE payments SET %s WHERE id = ?" % ", ".join("%s = ?" % k for k in fields),
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

    def _select(self, tail: str, args: Sequence[object]) -> List[PaymentRow]:
        with self._lock:
            rows = self._db.execute("SELECT %s FROM payments %s" % (", ".join(COLUMNS), tail),
                                    list(args)).fetchall()
        return [cast(PaymentRow, dict(zip(COLUMNS, row))) for row in rows]
