"""Refunding or voiding an approved payment: the record, the gateway, the event, once.

    refunds = Refunds(store, gateways, bus)
    done = refunds.refund(payment_id, request_key, amount_minor=None, reason="", tenant=..., agent=...)
    done = refunds.void(payment_id, request_key, ...)
    refunds.reconcile()      # settle the requests whose outcome was never confirmed

The request is recorded (and its amount held on the payment) before the gateway is asked
(``store/refunds.py``), under the client's request key: the same key again finds that record
and sends nothing (a retry, a double click, two instances at once refund once). The gateway
is asked under the record's own key with the shared policy (``gateways/reversals.py``); its
answer is written and published once as ``PaymentRefunded`` / ``PaymentVoided`` on the payment
event bus (metrics, webhooks, the log). A fault never hides a refund: an outcome the gateway
could not confirm stays ``unknown``, flagged, its amount held, until ``reconcile`` learns it
under the same key (asked by key, or sent again under it when the gateway is idempotent on
the key, so it is done at most once).
"""
import logging
import time
from dataclasses import dataclass
from typing import List, Mapping, Optional

from ..store import PaymentRow, PaymentStore
from ..store.refunds import REFUNDABLE, NotRefundable, RefundRow, RefundTable, not_refundable
from .events import CallRef, PaymentEventBus, PaymentRefunded, PaymentVoided
from .gateways.base import Gateway
from .gateways.refund_results import (RefundRefused, RefundResult, RefundTarget, Refunded,
                                      Voided, result_of)
from .gateways.results import GatewayError
from .money import Money

log = logging.getLogger(__name__)


class RefundProblem(Exception):
    """A request refused before the gateway is asked: ``code`` names why (over_refund,
    not_approved, already_refunded, voided, not_found, gateway_unavailable, invalid)."""

    def __init__(self, code: str, message: str, left: Optional[int] = None) -> None:
        super().__init__(message)
        self.code, self.message, self.left = code, message, left


@dataclass(frozen=True)
class RefundDone:
    record: RefundRow
    payment: PaymentRow
    replayed: bool          # the request key was seen before: this is that request's answer


@dataclass(frozen=True)
class RefundSettled:
    refund_id: str
    status: Optional[str]   # what it is settled as, or None: still unknown
    note: str = ""


class Refunds:
    def __init__(self, store: PaymentStore, gateways: Mapping[str, Gateway],
                 bus: Optional[PaymentEventBus] = None) -> None:
        self.store, self.gateways, self.bus = store, gateways, bus
        self.table = RefundTable(store)

    def left_to_refund(self, payment: PaymentRow) -> int:
        return int(payment["amount_minor"]) - self.table.held(payment["id"])

    def refund(self, payment_id: str, request_key: str, amount_minor: Optional[int] = None,
               reason: str = "", tenant: str = "default",
               agent: Optional[str] = None) -> RefundDone:
        payment = self._payment(payment_id)
        if payment["status"] not in REFUNDABLE:
            why = not_refundable(payment["status"])
            raise RefundProblem(why, "the payment cannot be refunded: %s" % why.replace("_", " "))
        amount = self.left_to_refund(payment) if amount_minor is None else int(amount_minor)
        if amount <= 0:
            raise RefundProblem("over_refund", "nothing is left to refund", 0)
        return self._request("refund", payment, request_key, amount, reason, tenant, agent)

    def void(self, payment_id: str, request_key: str, reason: str = "",
             tenant: str = "default", agent: Optional[str] = None) -> RefundDone:
        payment = self._payment(payment_id)
        return self._request("void", payment, request_key, int(payment["amount_minor"]),
                             reason, tenant, agent)

    def _payment(self, payment_id: str) -> PaymentRow:
        payment = self.store.get(payment_id)
        if payment is None:
            raise RefundProblem("not_found", "no such payment")
        return payment

    def _request(self, kind: str, payment: PaymentRow, request_key: str, amount: int,
                 reason: str, tenant: str, agent: Optional[str]) -> RefundDone:
        gateway = self.gateways.get(payment["gateway"])
        try:
            begun = self.table.begin(payment_id=payment["id"], kind=kind,
                                     request_key=request_key, amount_minor=amount,
                                     currency=payment["currency"], tenant=tenant, agent=agent,
                                     reason=reason)
        except NotRefundable as refusal:
            raise RefundProblem(refusal.why, "the payment cannot be %s: %s" % (
                "refunded" if kind == "refund" else "voided", refusal.why.replace("_", " ")),
                refusal.left) from None
        row = begun.row
        if begun.replayed:
            if row["kind"] != kind or (kind == "refund" and row["amount_minor"] != amount):
                raise RefundProblem("idempotency_key_reused", "this Idempotency-Key was used "
                                    "for another request on this payment")
            return RefundDone(row, self._payment(payment["id"]), True)
        if gateway is None:
            answer: RefundResult = GatewayError("unsupported", False, "gateway %s is not "
                                                "configured" % payment["gateway"])
        else:
            answer = self._ask(gateway, kind, payment, row)
        self._write(row, answer, payment)
        record = self.table.get(row["id"])
        assert record is not None
        return RefundDone(record, self._payment(payment["id"]), False)

    @staticmethod
    def _ask(gateway: Gateway, kind: str, payment: PaymentRow, row: RefundRow) -> RefundResult:
        target = RefundTarget(payment["idempotency_key"], payment["transaction_id"] or "",
                              payment["auth_code"] or "", int(payment["amount_minor"]),
                              payment["currency"])
        if kind == "void":
            return gateway.void(target, row["gateway_key"])
        return gateway.refund(target, Money(int(row["amount_minor"]), row["currency"]),
                              row["gateway_key"])

    def _write(self, row: RefundRow, answer: Optional[RefundResult], payment: PaymentRow,
               reconciled: bool = False) -> Optional[str]:
        """Write the answer (None: the gateway has no record) and publish it; the status
        written, or None when it stays unknown."""
        if answer is None:
            self.table.finish(row["id"], "unknown", note="the gateway has no record of the "
                              "refund key yet: not taken as not refunded")
            return None
        result = result_of(answer)
        if isinstance(answer, Refunded):
            written = self.table.finish(row["id"], "succeeded", refunded_minor=answer.amount_minor,
                                        refund_ref=answer.refund_id)
        elif isinstance(answer, Voided):
            written = self.table.finish(row["id"], "succeeded", refund_ref=answer.refund_id)
        elif isinstance(answer, RefundRefused):
            written = self.table.finish(row["id"], "refused", refusal=answer.reason,
                                        note=answer.gateway_code)
        else:
            written = self.table.finish(row["id"], result, error_kind=answer.kind,
                                        note="%s: %s" % (answer.kind, answer.detail or "no detail"))
        if not written:     # settled meanwhile by another: told by that one
            return None
        if reconciled and result == "unknown":
            return None     # still unknown: nothing new to tell
        self._publish(row, payment, result)
        return None if result == "unknown" else result

    def _publish(self, row: RefundRow, payment: PaymentRow, result: str) -> None:
        if self.bus is None:
            return
        now = self.store.get(payment["id"]) or payment
        call = CallRef(payment["call_uuid"] or "", payment["tenant"] or "default",
                       payment["flow"] or "")
        if row["kind"] == "void":
            self.bus.publish(call, PaymentVoided(payment["gateway"], payment["id"], row["id"],
                                                 result))
        else:
            self.bus.publish(call, PaymentRefunded(payment["gateway"], payment["id"], row["id"],
                                                   int(row["amount_minor"]), row["currency"],
                                                   result, int(now["refunded_minor"] or 0)))

    # -- reconciliation ----------------------------------------------------------------------
    def reconcile(self, older_than: float = 60.0,
                  now: Optional[float] = None) -> List[RefundSettled]:
        """Settle each pending or unknown request older than ``older_than`` seconds: asked by
        key, or sent again under the same key when the gateway is idempotent on it (the same
        body: done at most once). What the gateway cannot say stays unknown, with a note."""
        now = time.time() if now is None else now
        done: List[RefundSettled] = []
        for row in self.table.unsettled():
            if now - row["updated"] < older_than:
                continue
            payment = self.store.get(row["payment_id"])
            gateway = self.gateways.get(payment["gateway"]) if payment else None
            if payment is None or gateway is None:
                done.append(RefundSettled(row["id"], None, "its payment or gateway is gone"))
                continue
            answer: Optional[RefundResult]
            if gateway.idempotent and (gateway.supports_refund if row["kind"] == "refund"
                                       else gateway.supports_void):
                answer = self._ask(gateway, row["kind"], payment, row)
            else:
                answer = gateway.refund_status(row["gateway_key"])
            status = self._write(row, answer, payment, reconciled=True)
            later = self.table.get(row["id"])
            note = (later["note"] if later else "") or ""
            log.info("refund %s of payment %s reconciled: %s", row["id"], payment["id"],
                     status or "still unknown: " + note)
            done.append(RefundSettled(row["id"], status, "" if status else note))
        return done
