"""The payment journal: where payment outcomes are recorded, masked data only, on any backend.

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

Whoever must hear of an outcome in the outcome's own transaction (the status callbacks'
outbox, ``callbacks/writer.py``) is an ``outcome_hooks`` entry: ``hook(tx, row, reconciled)``
runs inside ``finish``'s transaction, under a savepoint, after the row is updated. A hook that
fails is rolled back to its savepoint and logged: the outcome is kept whatever a hook does.

Written once over a ``Backend`` (``backend.py``): an embedded SQLite file by default
(``PaymentStore(path)``), PostgreSQL when ``store.url`` names one (``open_store``). Each method
is one short transaction the backend may run again after a lost connection: each is safe to
run twice (``begin`` finds its own row rather than a conflict).

How long each write of a payment took, from its transaction's start to its commit (retries on
a fresh connection included), is told to ``on_write(operation, seconds)`` when set (the
service's metrics: ``payivr_store_write_seconds``): ``number``, ``begin``, ``finish``, ``flag``,
``confirm``, ``rate`` (``WRITE_OPERATIONS``). A write that failed is not timed; ``health`` counts it.
"""
import logging
import re
import time
import uuid as uuidlib
from typing import (Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, TypedDict,
                    TypeVar, Union, cast)

from orchestrator import payment_details

from .backend import Backend, StoreHealth, Transaction
from .errors import StoreConflict, StoreError
from .sqlite import SqliteBackend

# link_sent: a payment link texted to the caller, to be paid outside the call (store/links.py)
# refunded, partially_refunded, voided: an approved payment given back (store/refunds.py)
STATUSES = ("pending", "approved", "declined", "error", "unknown", "link_sent", "refunded",
            "partially_refunded", "voided")
COLUMNS = ("id", "created", "updated", "call_uuid", "tenant", "flow", "reference", "amount_minor",
           "currency", "gateway", "idempotency_key", "number", "brand", "card", "status",
           "auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
           "needs_reconciliation", "gateway_code", "reconcile_note", "confirmation_code", "details",
           "survey_rating", "refunded_minor")
# decline_code: the normalised reason; decline_reason: our words for it; gateway_code: the
# gateway's own code, checked (payments/gateways/results.py). Never the gateway's free text.
OUTCOME_FIELDS = ("auth_code", "transaction_id", "decline_code", "decline_reason", "error_kind",
                  "gateway_code")
# The writes of a payment that ``on_write`` hears, timed: its number, its pending row, its
# outcome, a flag for reconciliation, the code texted, the caller's survey rating.
WRITE_OPERATIONS = ("number", "begin", "finish", "flag", "confirm", "rate")
SURVEY_RATINGS = (1, 2, 3, 4, 5)
T = TypeVar("T")
log = logging.getLogger(__name__)
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
    confirmation_code: Optional[str]
    details: Optional[str]        # JSON, checked by payment_details (invoices, customer)
    survey_rating: Optional[int]  # the caller's 1 to 5 after paying (engine/steps/survey.py)
    refunded_minor: int           # given back so far by refunds (store/refunds.py)


# hears each outcome written, in its transaction: (tx, the row as written, by reconciliation?)
OutcomeHook = Callable[[Transaction, PaymentRow, bool], None]
SAVEPOINT = "outcome_hook"


class MaskedCard(Protocol):
    """What ``begin`` keeps of a card (``CardData.summary``): brand, BIN and last four."""

    @property
    def brand(self) -> str: ...

    @property
    def bin(self) -> str: ...

    @property
    def last4(self) -> str: ...


class PaymentStore:
    """The journal on ``backend``, or on an SQLite file at ``path`` (``:memory:`` for tests).

    Raises StoreError when the store cannot be opened: not a database, a schema newer than
    this code, a layout it does not recognise, a migration that failed, a server that cannot
    be reached."""

    def __init__(self, path: str = ":memory:", backend: Optional[Backend] = None) -> None:
        self.backend: Backend = backend if backend is not None else SqliteBackend(path)
        self.path = path if backend is None else self.backend.where
        self.migrations_applied: List[int] = list(getattr(self.backend, "migrations_applied", []))
        self.outcome_hooks: List[OutcomeHook] = []
        self.tag = self.backend.run(lambda tx: str(tx.execute(
            "SELECT value FROM store_meta WHERE name = 'tag'")[0][0]))
        self.on_write: Optional[Callable[[str, float], None]] = None

    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def health(self) -> StoreHealth:
        return self.backend.health

    @property
    def schema_version(self) -> int:
        rows = self.backend.run(lambda tx: tx.execute("SELECT MAX(version) FROM schema_version"))
        return int(rows[0][0] or 0)

    def close(self) -> None:
        self.backend.close()

    def ping(self) -> None:
        """One round trip to the store (what ``monitor.py`` asks); StoreError when none."""
        self.backend.run(lambda tx: tx.execute("SELECT 1"))

    def _timed(self, operation: str, work: Callable[[Transaction], T]) -> T:
        """``backend.run(work)``, its time told to ``on_write`` when it succeeded."""
        started = time.perf_counter()
        result = self.backend.run(work)
        if self.on_write is not None:
            try:
                self.on_write(operation, time.perf_counter() - started)
            except Exception:   # a metric's fault must never reach a payment
                pass
        return result

    def next_number(self) -> int:
        """The next payment number of this store: 1, 2, 3...; never the same one twice, even
        when two processes share the store (the increment and the read are one statement; an
        attempt lost with its connection leaves a gap, never a repeat). One statement, not an
        update then a select: every payment of every instance takes this row's lock in turn,
        and holds it one round trip less."""
        def allocate(tx: Transaction) -> int:
            return int(tx.execute("UPDATE counters SET value = value + 1 "
                                  "WHERE name = 'payment_number' RETURNING value")[0][0])
        return self._timed("number", allocate)

    def begin(self, *, amount_minor: int, currency: str, gateway: str, idempotency_key: str,
              summary: MaskedCard, payment_id: Optional[str] = None,
              number: Optional[int] = None, call_uuid: str = "", tenant: str = "default",
              flow: str = "", reference: str = "",
              details: Optional[Mapping[str, str]] = None) -> str:
        """Record a payment about to be sent to the gateway; returns its id (``payment_id``, or
        a new one). StoreError when the key or the number is already taken: a key names one
        payment attempt and is never reused. ``details``: what the payment is for, checked
        again here (``payment_details``: StoreError when a rule is broken), kept as JSON."""
        # a stored card's charge knows no BIN (the token keeps the last four only): "******"
        card = "%s%s%s" % (summary.bin or "*" * 6, "*" * 6, summary.last4)
        if not re.fullmatch(r"(\d{6}|\*{6})\*{6}\d{4}", card):
            raise StoreError("a card summary holds a six-digit BIN and the last four, nothing else")
        try:
            stored_details = payment_details.dumps(details) if details else None
        except payment_details.DetailsError as error:
            raise StoreError("payment not recorded: %s" % error) from None
        payment_id = payment_id or str(uuidlib.uuid4())
        now = time.time()
        row = dict(id=payment_id, created=now, updated=now, call_uuid=call_uuid, tenant=tenant,
                   flow=flow, reference=reference, amount_minor=int(amount_minor), currency=currency,
                   gateway=gateway, idempotency_key=idempotency_key, number=number,
                   brand=summary.brand, card=card, status="pending", details=stored_details)
        insert = "INSERT INTO payments (%s) VALUES (%s)" % (
            ", ".join(row), ", ".join("?" for _ in row))
        try:
            self._timed("begin", lambda tx: tx.execute(insert, list(row.values())))
        except StoreConflict as error:
            # an attempt whose answer was lost with its connection may have written the row:
            # that is this payment, recorded; anything else holding the key or number is not
            mine = self.backend.run(lambda tx: tx.execute(
                "SELECT idempotency_key FROM payments WHERE id = ?", (payment_id,)))
            if not mine or mine[0][0] != idempotency_key:
                raise StoreError("payment not recorded: %s" % error) from None
        return payment_id

    def finish(self, payment_id: str, status: str, needs_reconciliation: bool = False,
               note: Optional[str] = None, reconciled: bool = False,
               from_status: Union[str, Sequence[str], None] = None, **outcome: str) -> bool:
        """Write a payment's outcome (``OUTCOME_FIELDS``), its new status and the note that says
        why it is flagged (cleared when None); ``outcome_hooks`` hear it in the same
        transaction (``reconciled``: reconciliation found it).

        ``from_status``: only a payment still in that status (or one of those) is written (a
        payment link's webhook settles it once however often it comes, and however many come
        at once; two reconciliations of one payment settle it once): False, nothing written and
        nobody told, when it is in another."""
        if status not in STATUSES:
            raise StoreError("unknown status %r" % status)
        unknown = set(outcome) - set(OUTCOME_FIELDS)
        if unknown:
            raise StoreError("unknown outcome fields %s" % ", ".join(sorted(unknown)))
        fields: Dict[str, object] = dict(outcome, status=status, updated=time.time(),
                                         needs_reconciliation=1 if needs_reconciliation else 0,
                                         reconcile_note=_note(note))
        if from_status is None:
            self._update("finish", payment_id, fields,
                         tell=lambda tx: self._tell(tx, payment_id, reconciled))
            return True
        where, where_args = _status_in(from_status)
        try:
            self._update("finish", payment_id, fields, where=where, where_args=where_args,
                         tell=lambda tx: self._tell(tx, payment_id, reconciled))
        except StoreError:
            if self.get(payment_id) is None:
                raise
            return False
        return True

    def _tell(self, tx: Transaction, payment_id: str, reconciled: bool) -> None:
        if not self.outcome_hooks:
            return
        found = tx.execute("SELECT %s FROM payments WHERE id = ?" % ", ".join(COLUMNS),
                           (payment_id,))
        row = cast(PaymentRow, dict(zip(COLUMNS, found[0])))
        for hook in self.outcome_hooks:
            tx.execute("SAVEPOINT %s" % SAVEPOINT)
            try:
                hook(tx, row, reconciled)
            except Exception as error:
                # rolled back to before the hook: the outcome stays; if even that fails the
                # connection is gone, and the whole transaction goes (and may be run again)
                tx.execute("ROLLBACK TO SAVEPOINT %s" % SAVEPOINT)
                log.error("payment %s: an outcome hook failed (%s); the outcome is kept",
                          payment_id, type(error).__name__)
            tx.execute("RELEASE SAVEPOINT %s" % SAVEPOINT)

    def confirm(self, payment_id: str, code: str) -> None:
        """Record the confirmation code the caller was sent for this payment: digits only
        (4 to 12), so nothing else can be written here by mistake."""
        if not re.fullmatch(r"[0-9]{4,12}", str(code)):
            raise StoreError("a confirmation code is 4 to 12 digits")
        self._update("confirm", payment_id, {"confirmation_code": str(code), "updated": time.time()})

    def rate(self, payment_id: str, rating: int) -> None:
        """Record the caller's survey rating of this payment's call: an integer 1 to 5
        (``SURVEY_RATINGS``), so nothing else can be written here by mistake."""
        if isinstance(rating, bool) or rating not in SURVEY_RATINGS:
            raise StoreError("a survey rating is an integer from 1 to 5")
        self._update("rate", payment_id, {"survey_rating": int(rating), "updated": time.time()})

    def flag(self, payment_id: str, note: str,
             from_status: Union[str, Sequence[str], None] = None) -> bool:
        """Keep a payment flagged for reconciliation, saying why (a check that failed, an
        answer that did not settle it). Its outcome stays as it is; a ``pending`` one becomes
        ``unknown``: it is not in flight any more, it is not known; so does a ``link_sent`` one
        (its webhook did not settle it: nothing will but reconciliation).

        ``from_status``: only a payment still in that status (or one of those) is flagged (a
        reconciliation must not flag a payment another one settled meanwhile): False, nothing
        written, when it is in another."""
        fields: Dict[str, object] = {"needs_reconciliation": 1, "reconcile_note": _note(note)}
        also = ("status = CASE WHEN status IN ('pending', 'link_sent') THEN 'unknown' "
                "ELSE status END, ")
        if from_status is None:
            self._update("flag", payment_id, fields, also)
            return True
        where, where_args = _status_in(from_status)
        try:
            self._update("flag", payment_id, fields, also, where=where, where_args=where_args)
        except StoreError:
            if self.get(payment_id) is None:
                raise
            return False
        return True

    def _update(self, operation: str, payment_id: str, fields: Dict[str, object],
                also: str = "", tell: Optional[Callable[[Transaction], None]] = None,
                where: str = "", where_args: Sequence[object] = ()) -> None:
        update = "UPDATE payments SET %s%s WHERE id = ?%s" % (
            also, ", ".join("%s = ?" % k for k in fields), where)

        def write(tx: Transaction) -> int:
            tx.execute(update, list(fields.values()) + [payment_id] + list(where_args))
            written = tx.rowcount
            if written and tell is not None:
                tell(tx)
            return written
        if not self._timed(operation, write):
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
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT status, COUNT(*), MIN(created) FROM payments "
            "WHERE needs_reconciliation = 1 OR (status = 'pending' AND updated < ?) "
            "GROUP BY status", (now - pending_after,)))
        return {str(status): (int(count), oldest) for status, count, oldest in rows}

    def _select(self, tail: str, args: Sequence[object]) -> List[PaymentRow]:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT %s FROM payments %s" % (", ".join(COLUMNS), tail), list(args)))
        return [cast(PaymentRow, dict(zip(COLUMNS, row))) for row in rows]


def _status_in(statuses: Union[str, Sequence[str]]) -> Tuple[str, List[object]]:
    """The condition of a conditional write: the payment's status is one of ``statuses``."""
    wanted: List[object] = [statuses] if isinstance(statuses, str) else list(statuses)
    if not wanted:
        raise StoreError("a conditional write names at least one status")
    return " AND status IN (%s)" % ", ".join("?" for _ in wanted), wanted


def _note(note: Optional[str]) -> Optional[str]:
    if note is None:
        return None
    text = " ".join(str(note).split())
    return text[:MAX_NOTE - 1] + "…" if len(text) > MAX_NOTE else text
