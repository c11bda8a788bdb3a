"""The agent API's payment routes: read a recorded payment, refund it, void it.

    GET  /api/v1/payments/{id}          the payment, masked, with its refunds and voids
    POST /api/v1/payments/{id}/refund   {"amount"?: minor units, "reason"?}  + Idempotency-Key
    POST /api/v1/payments/{id}/void     {"reason"?}                          + Idempotency-Key

Money goes back only on a token that says so (``refund: true``): any other is answered 403
before any payment is looked at, so a refusal tells nothing about which payments exist. A
payment of another tenant (or, for an agent-scoped token, of a call another agent's session
held) is answered 404, exactly as one that does not exist. The ``Idempotency-Key`` (header,
or ``idempotency_key`` in the body) is required: the same key again is answered with that
request's record and nothing is sent to the gateway again. What is shown is masked: brand
and last four, never the BIN; the reason is the agent's words, refused if it looks like a card
number (``api.refuse_card_like``, before anything reads it).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, Set, Tuple

from orchestrator.card_numbers import looks_like_card
from orchestrator.payments.refunds import RefundDone, RefundProblem, Refunds
from orchestrator.store import PaymentRow
from orchestrator.store.errors import StoreError
from orchestrator.store.refunds import RefundRow

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import WSGIEnvironment

    from .audit import AuditEntry
    from .settings import Principal

REQUEST_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
REASON = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
# what the store's refund outcome is answered with: HTTP status, and error code when refused
ANSWERS = {"succeeded": (200, None), "unknown": (202, None), "pending": (202, None),
           "refused": (422, "gateway_refused"), "error": (502, "gateway_error")}
PROBLEM_STATUS = {"not_found": 404, "over_refund": 422, "invalid": 400}
Answer = Tuple[int, Dict[str, Any]]


def payment_not_found() -> Any:
    from .api import ApiError
    return ApiError(404, "payment_not_found", "no such payment")


class PaymentRoutes:
    """Held by ``AgentApi`` (``api.payments``) when the service has gateways and a store."""

    def __init__(self, refunds: Refunds) -> None:
        self.refunds = refunds
        self.store = refunds.store

    # -- checks ----------------------------------------------------------------------------
    def owned(self, principal: "Principal", entry: "AuditEntry", payment_id: str) -> PaymentRow:
        """The payment when it is the principal's to see; else the 404 of one that is not."""
        entry.payment = payment_id
        try:
            payment = self.store.get(payment_id)
        except StoreError:
            payment = None
        if payment is None or (payment["tenant"] or "default") != principal.tenant:
            raise payment_not_found()
        if principal.agent is not None and principal.agent not in self._agents(payment):
            raise payment_not_found()
        entry.call = payment["call_uuid"] or None
        return payment

    def _agents(self, payment: PaymentRow) -> Set[str]:
        """The agents whose sessions held the payment's call: who an agent token answers for."""
        call = payment["call_uuid"]
        if not call:
            return set()
        rows = self.store.backend.run(lambda tx: tx.execute(
            "SELECT agent FROM agent_sessions WHERE call_uuid = ?", (call,)))
        return {row[0] for row in rows if row[0]}

    @staticmethod
    def request_key(environ: "WSGIEnvironment", body: Dict[str, Any]) -> str:
        from .api import bad
        key = environ.get("HTTP_IDEMPOTENCY_KEY") or body.get("idempotency_key")
        if not isinstance(key, str) or not REQUEST_KEY.match(key) or looks_like_card(key):
            raise bad("idempotency_key", "an Idempotency-Key header (or idempotency_key) is "
                      "required: 8 to 64 letters, digits or ._:- (one per refund the agent "
                      "means: a retry sends the same)")
        return key

    @staticmethod
    def reason(body: Dict[str, Any]) -> str:
        from .api import bad
        reason = body.get("reason", "")
        if not isinstance(reason, str) or (reason and not REASON.match(reason)):
            raise bad("reason", "reason must be text of at most 200 characters")
        return reason

    # -- handlers ------------------------------------------------------------------------------
    def read(self, principal: "Principal", entry: "AuditEntry", payment_id: str) -> Answer:
        payment = self.owned(principal, entry, payment_id)
        return 200, self.shown(payment)

    def reverse(self, kind: str, environ: "WSGIEnvironment", principal: "Principal",
                entry: "AuditEntry", body: Dict[str, Any], payment_id: str) -> Answer:
        from .api import ApiError, bad
        assert principal.refund    # AgentApi answers 403 before the body is read
        payment = self.owned(principal, entry, payment_id)
        key = self.request_key(environ, body)
        reason = self.reason(body)
        amount = body.get("amount") if kind == "refund" else None
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)
                                   or amount <= 0):
            raise bad("amount", "amount must be a positive integer of minor units (1250 = "
                      "12.50), or left out to refund all that is left")
        entry.detail = "%s %s key=%s" % (kind, amount if amount is not None else "all", key)
        try:
            if kind == "refund":
                done = self.refunds.refund(payment["id"], key, amount, reason,
                                           principal.tenant, principal.agent)
            else:
                done = self.refunds.void(payment["id"], key, reason, principal.tenant,
                                         principal.agent)
        except RefundProblem as problem:
            raise ApiError(PROBLEM_STATUS.get(problem.code, 409), problem.code,
                           problem.message, "amount" if problem.code == "over_refund" else None,
                           extra=({"refundable_minor": problem.left}
                                  if problem.left is not None else None))
        return self._answer(entry, done)

    def _answer(self, entry: "AuditEntry", done: RefundDone) -> Answer:
        from .api import ApiError
        record = done.record
        entry.detail = "%s result=%s%s" % (entry.detail, record["status"],
                                           " replayed" if done.replayed else "")
        status, error = ANSWERS.get(record["status"], (202, None))
        body = {"refund": shown_refund(record), "payment": self.shown(done.payment),
                "replayed": done.replayed}
        if error is not None:
            why = record["refusal"] or record["error_kind"] or "unknown"
            raise ApiError(status, error, "the gateway %s the %s: %s" % (
                "refused" if error == "gateway_refused" else "failed on", record["kind"],
                why.replace("_", " ")), extra=body)
        return status, body

    def shown(self, payment: PaymentRow) -> Dict[str, Any]:
        """The payment as an agent may see it: brand and last four, never more."""
        card = payment["card"] or ""
        held = self.refunds.table.held(payment["id"])
        return {"id": payment["id"], "status": payment["status"],
                "amount_minor": int(payment["amount_minor"]), "currency": payment["currency"],
                "refunded_minor": int(payment["refunded_minor"] or 0),
                "refundable_minor": (int(payment["amount_minor"]) - held
                                     if payment["status"] in ("approved", "partially_refunded")
                                     else 0),
                "reference": payment["reference"], "brand": payment["brand"],
                "last4": card[-4:] if re.fullmatch(r"\d{6}\*{6}\d{4}", card) else None,
                "auth_code": payment["auth_code"], "created": payment["created"],
                "refunds": [shown_refund(r) for r in self.refunds.table.of_payment(payment["id"])]}


def shown_refund(row: RefundRow) -> Dict[str, Any]:
    shown: Dict[str, Any] = {"id": row["id"], "kind": row["kind"], "status": row["status"],
                             "amount_minor": int(row["amount_minor"]), "currency": row["currency"],
                             "reason": row["reason"], "created": row["created"]}
    for name in ("refusal", "error_kind"):
        if row[name]:
            shown[name] = row[name]
    if row["status"] == "unknown":
        shown["needs_reconciliation"] = True
    return shown

