"""Refunds and voids in the journal: one row per request, and what the payment has left.

A request is recorded ``pending`` before the gateway is asked (``begin``), as a payment is, so
that a crash in between leaves a record that says so; its amount is *held* on the payment in
the same transaction by a conditional write (``refund_held_minor + amount <= amount_minor``),
so that two requests at once, on one instance or two sharing a database, can never together
give back more than was charged. ``finish`` writes the gateway's answer and, in the same
transaction, the payment's ``refunded_minor`` and status (``partially_refunded``,
``refunded``, ``voided``); a refusal or a definite failure releases the hold; an unknown outcome
keeps it and flags the row for reconciliation. ``finish`` writes only a row still pending or
unknown, so it is safe to run twice and two reconciliations settle a row once.

A request is named by the client's key (``request_key``: the ``Idempotency-Key`` header): the
same key for the same payment finds the row already there, and nothing is sent again. The
gateway is asked under ``gateway_key``, made here. Rows hold amounts, our codes and words, the
gateway's refund reference and the agent's reason (checked by the API: never a card number).
"""
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, TypedDict, cast

from .backend import Transaction
from .errors import StoreConflict, StoreError
from .journal import PaymentStore

REFUND_COLUMNS = ("id", "payment_id", "kind", "request_key", "gateway_key", "amount_minor",
                  "currency", "status", "reason", "refund_ref", "refusal", "error_kind", "note",
                  "tenant", "agent", "needs_reconciliation", "created", "updated")
UNSETTLED = ("pending", "unknown")
REFUNDABLE = ("approved", "partially_refunded")
MAX_TEXT = 200


class RefundRow(TypedDict):
    id: str
    payment_id: str
    kind: str              # refund or void
    request_key: str
    gateway_key: str
    amount_minor: int
    currency: str
    status: str            # pending, succeeded, refused, error, unknown
    reason: Optional[str]
    refund_ref: Optional[str]
    refusal: Optional[str]
    error_kind: Optional[str]
    note: Optional[str]
    tenant: str
    agent: Optional[str]
    needs_reconciliation: int
    created: float
    updated: float


class NotRefundable(StoreError):
    """The payment cannot take this request: ``why`` is over_refund, not_approved or
    already_refunded (a void of a payment partly refunded)."""

    def __init__(self, why: str, left: int) -> None:
        super().__init__("%s (left to refund: %d)" % (why, left))
        self.why, self.left = why, left


@dataclass(frozen=True)
class Begun:
    row: RefundRow
    replayed: bool         # the request key had a row already: nothing new was recorded


class RefundTable:
    def __init__(self, store: PaymentStore) -> None:
        self.store = store
        self.backend = store.backend

    def begin(self, *, payment_id: str, kind: str, request_key: str, amount_minor: int,
              currency: str, tenant: str, agent: Optional[str] = None,
              reason: str = "") -> Begun:
        """Record the request and hold its amount, or find the row its key already has.
        NotRefundable when the payment cannot take it."""
        gateway_key = "rf-" + uuid.uuid4().hex
        now = time.time()
        row: Dict[str, Any] = dict(
            id=str(uuid.uuid4()), payment_id=payment_id, kind=kind, request_key=request_key,
            gateway_key=gateway_key, amount_minor=int(amount_minor), currency=currency,
            status="pending", reason=(reason or None) and reason[:MAX_TEXT], tenant=tenant,
            agent=agent, needs_reconciliation=0, created=now, updated=now)

        def work(tx: Transaction) -> Begun:
            found = _select(tx, "WHERE payment_id = ? AND request_key = ?",
                            (payment_id, request_key))
            if found:   # this very attempt's row (a re-run after a lost answer) is not a replay
                return Begun(found[0], found[0]["gateway_key"] != gateway_key)
            if kind == "void":
                hold = ("UPDATE payments SET refund_held_minor = amount_minor WHERE id = ? "
                        "AND status = 'approved' AND refund_held_minor = 0")
                args: Sequence[object] = (payment_id,)
            else:
                hold = ("UPDATE payments SET refund_held_minor = refund_held_minor + ? "
                        "WHERE id = ? AND status IN ('approved', 'partially_refunded') "
                        "AND refund_held_minor + ? <= amount_minor")
                args = (int(amount_minor), payment_id, int(amount_minor))
            tx.execute(hold, args)
            if tx.rowcount != 1:
                raise _refusal(tx, payment_id, kind)
            tx.execute("INSERT INTO refunds (%s) VALUES (%s)" % (
                ", ".join(row), ", ".join("?" for _ in row)), list(row.values()))
            return Begun(cast(RefundRow, {k: row.get(k) for k in REFUND_COLUMNS}), False)
        try:
            return self.backend.run(work)
        except StoreConflict:
            # the same key at the same moment from another request: that one recorded it
            found = self.backend.run(lambda tx: _select(
                tx, "WHERE payment_id = ? AND request_key = ?", (payment_id, request_key)))
            if not found:
                raise
            return Begun(found[0], True)

    def finish(self, refund_id: str, status: str, *, refunded_minor: int = 0,
               refund_ref: str = "", refusal: str = "", error_kind: str = "",
               note: str = "") -> bool:
        """Write a request's outcome: succeeded (``refunded_minor`` given back; a void gives
        back the whole hold), refused or error (the hold released), unknown (kept, flagged).
        False when the row was settled already (nothing written)."""
        if status not in ("succeeded", "refused", "error", "unknown"):
            raise StoreError("unknown refund status %r" % status)

        def work(tx: Transaction) -> bool:
            rows = _select(tx, "WHERE id = ?", (refund_id,))
            if not rows:
                raise StoreError("no refund %s" % refund_id)
            row = rows[0]
            tx.execute("UPDATE refunds SET status = ?, refund_ref = ?, refusal = ?, "
                       "error_kind = ?, note = ?, needs_reconciliation = ?, updated = ? "
                       "WHERE id = ? AND status IN ('pending', 'unknown')",
                       (status, refund_ref[:64] or None, refusal or None, error_kind or None,
                        note[:MAX_TEXT] or None, 1 if status == "unknown" else 0, time.time(),
                        refund_id))
            if tx.rowcount != 1:
                return False
            held = int(row["amount_minor"])
            if status == "succeeded" and row["kind"] == "void":
                tx.execute("UPDATE payments SET status = 'voided', updated = ? WHERE id = ?",
                           (time.time(), row["payment_id"]))
            elif status == "succeeded":
                given = int(refunded_minor or held)
                # what the gateway gave back beyond the hold (it never should) stays held
                tx.execute("UPDATE payments SET refunded_minor = refunded_minor + ?, "
                           "refund_held_minor = refund_held_minor - ? + ?, "
                           "status = CASE WHEN refunded_minor + ? >= amount_minor "
                           "THEN 'refunded' ELSE 'partially_refunded' END, updated = ? "
                           "WHERE id = ?", (given, held, given, given, time.time(),
                                            row["payment_id"]))
            elif status in ("refused", "error"):
                release = ("UPDATE payments SET refund_held_minor = 0 WHERE id = ?"
                           if row["kind"] == "void" else
                           "UPDATE payments SET refund_held_minor = refund_held_minor - ? "
                           "WHERE id = ?")
                tx.execute(release, (row["payment_id"],) if row["kind"] == "void"
                           else (held, row["payment_id"]))
            return True
        return bool(self.backend.run(work))

    def get(self, refund_id: str) -> Optional[RefundRow]:
        rows = self.backend.run(lambda tx: _select(tx, "WHERE id = ?", (refund_id,)))
        return rows[0] if rows else None

    def of_payment(self, payment_id: str) -> List[RefundRow]:
        return self.backend.run(lambda tx: _select(
            tx, "WHERE payment_id = ? ORDER BY created", (payment_id,)))

    def unsettled(self) -> List[RefundRow]:
        return self.backend.run(lambda tx: _select(
            tx, "WHERE status IN ('pending', 'unknown') ORDER BY created", ()))

    def held(self, payment_id: str) -> int:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT refund_held_minor FROM payments WHERE id = ?", (payment_id,)))
        return int(rows[0][0]) if rows else 0


def not_refundable(status: str) -> str:
    """Why a payment in ``status`` (not one of REFUNDABLE) takes no refund or void."""
    return {"voided": "voided", "refunded": "already_refunded"}.get(status, "not_approved")


def _refusal(tx: Transaction, payment_id: str, kind: str) -> NotRefundable:
    rows = tx.execute("SELECT status, amount_minor, refund_held_minor FROM payments WHERE id = ?",
                      (payment_id,))
    if not rows:
        return NotRefundable("not_found", 0)
    status, amount, held = str(rows[0][0]), int(rows[0][1]), int(rows[0][2])
    left = amount - held
    if status not in REFUNDABLE:
        return NotRefundable(not_refundable(status), 0)
    if kind == "void":
        return NotRefundable("already_refunded", left)
    return NotRefundable("over_refund", left)


def _select(tx: Transaction, tail: str, args: Sequence[object]) -> List[RefundRow]:
    rows = tx.execute("SELECT %s FROM refunds %s" % (", ".join(REFUND_COLUMNS), tail), list(args))
    return [cast(RefundRow, dict(zip(REFUND_COLUMNS, row))) for row in rows]
