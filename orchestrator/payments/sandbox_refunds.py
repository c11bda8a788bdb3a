"""The sandbox gateway's refunds and voids: it remembers each one and refuses an over-refund.

As an acquirer does: a refund gives back part or all of an approved charge, never more than
is left of it; a void releases an authorization that has not settled yet (the end-of-day
batch, ``settle_all``, or ``settle_seconds`` after the charge), and is refused once it has
or once any of it was refunded. Each request names a refund key of its own: the same key and
body again gets the same answer and never refunds twice; the same key with another body is
a 409. ``hang_next`` makes the next refund, void or refund status requests (that many, in all) act
and then answer only after ``hang_seconds``: the connector's read timeout fires, the outcome
is unknown to the client until a later ``GET /v1/refunds/<key>`` (or the same request again)
tells it.

  POST /v1/authorizations/<key>/refunds  {"idempotency_key", "amount": {"value", "currency"}}
       -> 200 {"status": "refunded", "refund_id", "amount", "refunded_total"}
          422 {"error": "over_refund" | "voided" | "not_approved"}, 404 no such payment
  POST /v1/authorizations/<key>/void     {"idempotency_key"}
       -> 200 {"status": "voided", "refund_id"}
          422 {"error": "already_settled" | "already_refunded" | "voided" | "not_approved"}
  GET  /v1/refunds/<refund key>          -> the stored answer, or 404
"""
import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

import gevent

from .. import bounded_json
from .money import Money, MoneyError

log = logging.getLogger(__name__)
Answer = Tuple[int, Dict[str, Any]]


class SandboxRefunds:
    """Held by ``SandboxGateway``; ``charges`` is its list of charges (masked), shared."""

    def __init__(self, charges: List[Dict[str, Any]], settle_seconds: float,
                 hang_seconds: float) -> None:
        self._charges = charges
        self.settle_seconds = settle_seconds
        self.hang_seconds = hang_seconds
        self.hang_next = 0
        self._fingerprint_key = os.urandom(32)
        self._by_key: Dict[str, Tuple[str, int, Dict[str, Any]]] = {}
        self._settled_before = 0.0
        self.refunds: List[Dict[str, Any]] = []   # every refund and void done, oldest first

    def settle_all(self) -> None:
        """The end-of-day batch: every charge made so far is settled (no longer voidable)."""
        self._settled_before = time.time() + 1e-6

    def refunded(self, payment_key: str) -> int:
        return sum(r["amount"] for r in self.refunds
                   if r["payment_key"] == payment_key and r["kind"] == "refund")

    def answer(self, kind: str, payment_key: str, body: bytes) -> Answer:
        try:
            request = bounded_json.loads(body)
            key = request["idempotency_key"]
            money = (Money.parse(request["amount"]["value"], request["amount"]["currency"])
                     if kind == "refund" else None)
        except (ValueError, KeyError, TypeError, MoneyError):
            return 400, {"error": "malformed_request"}
        if not isinstance(key, str) or not 8 <= len(key) <= 64:
            return 400, {"error": "bad_idempotency_key"}
        fingerprint = hmac.new(self._fingerprint_key, body, hashlib.sha256).hexdigest()
        if key in self._by_key:
            seen, code, stored = self._by_key[key]
            return (code, stored) if seen == fingerprint else (409, {"error": "idempotency_key_reused"})
        code, stored = self._act(kind, payment_key, key, money)
        self._by_key[key] = (fingerprint, code, stored)
        self._maybe_hang()
        return code, stored

    def status(self, refund_key: str) -> Answer:
        self._maybe_hang()
        if refund_key not in self._by_key:
            return 404, {"error": "unknown_key"}
        _, code, stored = self._by_key[refund_key]
        return code, stored

    def _maybe_hang(self) -> None:
        if self.hang_next > 0:
            self.hang_next -= 1
            gevent.sleep(self.hang_seconds)

    def _charge(self, payment_key: str) -> Optional[Dict[str, Any]]:
        for charge in self._charges:
            if charge["idempotency_key"] == payment_key:
                return charge
        return None

    def _act(self, kind: str, payment_key: str, key: str, money: Optional[Money]) -> Answer:
        charge = self._charge(payment_key)
        if charge is None:
            return 404, {"error": "not_found"}
        if charge.get("voided"):
            return 422, {"error": "voided"}
        if charge["reversed"]:
            return 422, {"error": "not_approved"}
        refund_id = "sbr_" + secrets.token_hex(8)
        if kind == "void":
            settled = (charge["at"] < self._settled_before
                       or time.time() >= charge["at"] + self.settle_seconds)
            if settled:
                return 422, {"error": "already_settled"}
            if self.refunded(payment_key):
                return 422, {"error": "already_refunded"}
            charge["voided"] = True
            self.refunds.append({"kind": "void", "payment_key": payment_key, "key": key,
                                 "refund_id": refund_id, "amount": charge["amount"]})
            log.info("sandbox void payment_key=%s key=%s", payment_key, key)
            return 200, {"status": "voided", "refund_id": refund_id, "idempotency_key": key}
        assert money is not None
        if money.currency != charge["currency"]:
            return 422, {"error": "refused"}
        left = charge["amount"] - self.refunded(payment_key)
        if money.minor > left:
            return 422, {"error": "over_refund", "refundable": left}
        self.refunds.append({"kind": "refund", "payment_key": payment_key, "key": key,
                             "refund_id": refund_id, "amount": money.minor})
        log.info("sandbox refund payment_key=%s key=%s amount=%s", payment_key, key, money)
        return 200, {"status": "refunded", "refund_id": refund_id, "idempotency_key": key,
                     "amount": {"value": money.minor, "currency": money.currency},
                     "refunded_total": self.refunded(payment_key)}
