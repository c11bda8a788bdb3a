"""What a payment link's webhook notice does to its payment: settled once, or flagged.

A notice (checked here: ``parse``) is ``{"token", "event": "paid" | "expired" | "failed",
"amount": {"value", "currency"}, "auth_code", "transaction_id"}`` (``auth_code`` for paid).
``settle`` answers ``(HTTP status, body)``:

- an unknown token, or one made by another ``payment_links`` entry, or a payment of a tenant
  that does not hold the entry (a grant taken back): 404, nothing changes;
- ``paid`` for the link's amount and currency, before it expired: the payment ``approved``
  with the auth code (``finish(from_status="link_sent")``: its ``payment.result`` status
  callback goes out in the same transaction, like any other outcome): 200;
- the same notice again (or one racing it): 200, nothing changes, nobody told twice;
- ``paid`` for another amount or currency, or after the link expired, or for a payment
  already settled otherwise: flagged for reconciliation with a note saying why (a
  ``link_sent`` payment becomes ``unknown``): 409. Never silently accepted;
- ``expired`` or ``failed``: the payment ``declined`` (``link_expired``, ``link_failed``): 200.

``expire_due`` declines (``link_expired``) the links past their expiry that no notice settled
(the running service's sweep, ``links/expiry.py``, and ``orchestrator reconcile`` run it), so the CRM hears of a link nobody paid; a gateway's paid
notice after that is flagged like any other for a payment settled otherwise.
"""
import re
import time
from typing import Any, Callable, Collection, Dict, List, Optional, Tuple

from orchestrator.payments.gateways.results import DECLINE_TEXTS
from orchestrator.store.links import LINK_SENT, LinkedPayment, PaymentLinks, is_token

Answer = Tuple[int, Dict[str, Any]]
EVENTS = ("paid", "expired", "failed")
_AUTH_CODE = re.compile(r"^[A-Za-z0-9]{1,12}$")
_TRANSACTION = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class NoticeError(ValueError):
    """A notice that is not one (400)."""


def parse(data: Any) -> Dict[str, Any]:
    if not isinstance(data, dict):
        raise NoticeError("the body must be a JSON object")
    token, event, amount = data.get("token"), data.get("event"), data.get("amount")
    if not is_token(token):
        raise NoticeError("token must be a payment link token")
    if event not in EVENTS:
        raise NoticeError("event must be one of %s" % ", ".join(EVENTS))
    if (not isinstance(amount, dict) or not isinstance(amount.get("value"), int)
            or isinstance(amount.get("value"), bool) or not isinstance(amount.get("currency"), str)
            or not _CURRENCY.match(amount["currency"])):
        raise NoticeError("amount must be {value: minor units, currency: ISO 4217 code}")
    notice = {"token": token, "event": event, "value": amount["value"],
              "currency": amount["currency"], "auth_code": None, "transaction_id": None}
    if event == "paid":
        if not isinstance(data.get("auth_code"), str) or not _AUTH_CODE.match(data["auth_code"]):
            raise NoticeError("a paid notice needs auth_code (1 to 12 letters and digits)")
        notice["auth_code"] = data["auth_code"]
    transaction = data.get("transaction_id")
    if transaction is not None:
        if not isinstance(transaction, str) or not _TRANSACTION.match(transaction):
            raise NoticeError("transaction_id must be 1 to 64 letters, digits and _ . : -")
        notice["transaction_id"] = transaction
    return notice


def settle(links: PaymentLinks, name: str, notice: Dict[str, Any], now: Optional[float] = None,
           tenants: Optional[Collection[str]] = None) -> Answer:
    """``tenants``: whose payments entry ``name`` may settle (None: anyone's)."""
    now = time.time() if now is None else now
    found = links.find(notice["token"])
    if found is None or found.link != name:
        return 404, {"error": "unknown_token"}
    if tenants is not None and found.payment["tenant"] not in tenants:
        # only when a grant was taken back after the link was made: nothing of it is said
        return 404, {"error": "unknown_token"}
    for _ in range(2):   # a second pass when another notice settled it in between
        payment = found.payment
        if payment["status"] != LINK_SENT:
            return _settled_already(links, found, notice)
        if notice["event"] == "paid":
            problem = _mismatch(found, notice, now)
            if problem:
                links.store.flag(payment["id"], problem)
                return 409, {"error": "flagged", "message": problem}
            written = links.store.finish(payment["id"], "approved", from_status=LINK_SENT,
                                         auth_code=notice["auth_code"],
                                         transaction_id=notice["transaction_id"] or "")
        else:
            code = "link_%s" % notice["event"]
            written = links.store.finish(payment["id"], "declined", from_status=LINK_SENT,
                                         decline_code=code, decline_reason=DECLINE_TEXTS[code],
                                         transaction_id=notice["transaction_id"] or "")
        if written:
            return 200, {"status": "approved" if notice["event"] == "paid" else "declined"}
        again = links.find(notice["token"])
        if again is None:   # pragma: no cover - links are never deleted
            return 404, {"error": "unknown_token"}
        found = again
    return _settled_already(links, found, notice)


def expire_due(links: PaymentLinks, now: Optional[float] = None,
               on_declined: Optional[Callable[[str, str], None]] = None,
               limit: Optional[int] = None) -> List[str]:
    """Decline every ``link_sent`` payment whose link expired (the ``limit`` that expired
    first, when given); the ids declined, each told to ``on_declined(payment id, tenant)``.
    A payment a notice, or another instance's sweep, settled meanwhile is left as it was
    written: ``finish(from_status="link_sent")`` writes each outcome, and its status
    callback, once."""
    now = time.time() if now is None else now
    declined = []
    for payment_id, tenant in links.expired_payments(now, limit):
        if links.store.finish(payment_id, "declined", from_status=LINK_SENT,
                              decline_code="link_expired", decline_reason=DECLINE_TEXTS["link_expired"]):
            declined.append(payment_id)
            if on_declined is not None:
                on_declined(payment_id, tenant)
    return declined


def _mismatch(found: LinkedPayment, notice: Dict[str, Any], now: float) -> str:
    payment = found.payment
    if notice["value"] != payment["amount_minor"] or notice["currency"] != payment["currency"]:
        return ("a paid notice for %d %s, the link was for %d %s" % (
            notice["value"], notice["currency"], payment["amount_minor"], payment["currency"]))
    if now > found.expires:
        return "a paid notice after the link expired (%.0f s late)" % (now - found.expires)
    return ""


def _settled_already(links: PaymentLinks, found: LinkedPayment, notice: Dict[str, Any]) -> Answer:
    """The payment is not awaiting its link any more: the same outcome again is a repeat (200,
    nothing changes); a paid notice for a payment settled otherwise is flagged (409)."""
    payment = found.payment
    status = payment["status"]
    if notice["event"] == "paid" and status == "approved" and payment["auth_code"] == notice["auth_code"]:
        return 200, {"status": "approved", "repeat": True}
    if (notice["event"] != "paid" and status == "declined"
            and payment["decline_code"] == "link_%s" % notice["event"]):
        return 200, {"status": "declined", "repeat": True}
    if notice["event"] == "paid":
        note = "a paid notice for a payment already %s" % status
        if not payment["needs_reconciliation"]:   # flagged already: its first note stays
            links.store.flag(payment["id"], note)
        return 409, {"error": "flagged", "message": note}
    return 409, {"error": "conflict", "message": "the payment is already %s" % status}
