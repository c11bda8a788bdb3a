"""What a callback says: a payment event, a journal outcome or a session change, as one JSON body.

Every body has the same envelope, so a receiver reads one shape whatever it gets::

    {"type": "payment.field.accepted", "event_id": "<uuid>", "seq": 7, "tenant": "acme",
     "created": 1764590000.123, "call_uuid": "...", "session_id": "ps_...", "data": {...}}

``type`` is ``payment.*`` for what the IVR did (field started, accepted, rejected..., the
card sent to the gateway, the result, a card kept on file: ``payment.card_stored``) and ``session.*`` for an agent's payment session.
``event_id`` names the event for good: a re-sent body is the same bytes; ``seq`` counts the
tenant's events (a gap: some were not stored, see docs/limits.md).

What goes into ``data`` is built here from fixed words, counts and masks: a field name from the
card vocabulary, an error type from its list, a mask that matches the mask pattern (BIN and
last four at most), a status, an auth code that is a short token. Anything that does not fit
its pattern is written as ``"withheld"``, so no peer's free text (a gateway's, a dialplan's)
reaches a receiver unbounded. A session notice carries the session as the agent API shows it
(masked by its own ``to_json``); ``refuses`` is the last check the writer applies to its
change, fields and result, as the sessions table does: a run of seven digits or more (a BIN is
six) is never written.

A ``payment.result`` carries ``details`` when its flow attached them (``authorize``'s
``details``: the invoices a collections call paid, the CRM's customer): read back from the
journal row and checked again by ``payment_details.py``, whose rule is not the seven-digit one
(invoice numbers are long digit runs) but its own: ids and invoice numbers of 12 digits at
most each, never a card number (13 to 19). Details that fail it are sent as ``"withheld"``.
"""
import json
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from orchestrator import payment_details
from orchestrator.card_numbers import digits_longer_than_a_bin
from orchestrator.payments.events import (Authorizing, CallRef, CardAttemptsExhausted,
                                          CardCancelled, CardComplete, FieldAccepted,
                                          FieldCancelled, FieldRejected, FieldStarted,
                                          PaymentCardStored, PaymentEvent, PaymentRefunded,
                                          PaymentVoided)
from orchestrator.payments.gateways.refund_results import REFUND_RESULTS
from orchestrator.payments.gateways.results import DECLINE_REASONS, GATEWAY_ERROR_KINDS
from orchestrator.payments.validation import FIELD_ERROR_TYPES, FIELDS

WITHHELD = "withheld"
# journal status -> what a callback calls it ("error" is a payment that certainly failed)
RESULTS = {"approved": "approved", "declined": "declined", "error": "failed",
           "unknown": "unknown"}
_MASK = re.compile(r"^(?:[a-z_]{1,20} )?(?:\d{6})?\*{2,13}\d{4}$|^[*/]{1,8}$")
_BRAND = re.compile(r"^[a-z_]{1,20}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_AUTH_CODE = re.compile(r"^[A-Za-z0-9]{1,12}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:/#-]{1,64}$")
_WORDS = re.compile(r"^[A-Za-z ,.'()-]{1,120}$")
_CARD_LIKE = re.compile(r"\d{7,}")
_CARD_ID = re.compile(r"^card_[a-z]{26}$")   # our id of a stored card (store/card_tokens.py)

Data = Dict[str, Any]


def _fits(pattern: "re.Pattern[str]", value: Optional[str]) -> Optional[str]:
    if value is None or value == "":
        return None
    text = str(value)
    return text if pattern.match(text) and not _CARD_LIKE.search(text) else WITHHELD


def _id(value: Optional[str]) -> Optional[str]:
    """A payment id is a UUID we made (its hex may hold a run of digits: it is no card's)."""
    if value is None:
        return None
    return str(value) if _ID.match(str(value)) else WITHHELD


def _one_of(vocabulary: Tuple[str, ...], value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    return value if value in vocabulary else "other"


def payment_event(event: PaymentEvent) -> Optional[Tuple[str, Data]]:
    """``(type, data)`` for an IVR progress event, or None for one a callback does not carry
    (the result comes from the journal, ``payment_result``; the hand-back is the call's)."""
    if isinstance(event, FieldStarted):
        return "payment.field.started", {"field": _one_of(FIELDS, event.field),
                                         "attempt": int(event.attempt)}
    if isinstance(event, FieldAccepted):
        data = {"field": _one_of(FIELDS, event.field), "attempt": int(event.attempt),
                "masked": _fits(_MASK, event.masked)}
        if event.brand:
            data["brand"] = _fits(_BRAND, event.brand)
        return "payment.field.accepted", data
    if isinstance(event, FieldRejected):
        return "payment.field.rejected", {"field": _one_of(FIELDS, event.field),
                                          "attempt": int(event.attempt),
                                          "error_type": _one_of(FIELD_ERROR_TYPES, event.error_type)}
    if isinstance(event, FieldCancelled):
        return "payment.field.cancelled", {"field": _one_of(FIELDS, event.field)}
    if isinstance(event, CardComplete):
        return "payment.card.complete", {"brand": _fits(_BRAND, event.brand),
                                         "masked": _fits(_MASK, event.masked)}
    if isinstance(event, CardCancelled):
        return "payment.card.cancelled", {}
    if isinstance(event, CardAttemptsExhausted):
        return "payment.card.attempts_exhausted", {"field": _one_of(FIELDS, event.field)}
    if isinstance(event, Authorizing):
        return "payment.authorizing", {"gateway": _fits(_TOKEN, event.gateway),
                                       "payment_id": _id(event.payment_id),
                                       "brand": _fits(_BRAND, event.brand),
                                       "last4": event.last4 if re.fullmatch(r"\d{4}", event.last4)
                                       else WITHHELD}
    if isinstance(event, PaymentRefunded):
        return "payment.refunded", {"payment_id": _id(event.payment_id),
                                    "refund_id": _id(event.refund_id),
                                    "gateway": _fits(_TOKEN, event.gateway),
                                    "amount_minor": int(event.amount_minor),
                                    "currency": _fits(re.compile(r"^[A-Z]{3}$"), event.currency),
                                    "refunded_minor": int(event.refunded_minor),
                                    "result": _one_of(REFUND_RESULTS, event.result)}
    if isinstance(event, PaymentCardStored):
        return "payment.card_stored", {
            "card_token_id": _fits(_CARD_ID, event.card_token_id),
            "gateway": _fits(_TOKEN, event.gateway), "brand": _fits(_BRAND, event.brand),
            "last4": event.last4 if re.fullmatch(r"\d{4}", event.last4) else WITHHELD,
            "customer": _fits(_REFERENCE, event.customer),
            "payment_id": _id(event.payment_id) if event.payment_id else None}
    if isinstance(event, PaymentVoided):
        return "payment.voided", {"payment_id": _id(event.payment_id),
                                  "refund_id": _id(event.refund_id),
                                  "gateway": _fits(_TOKEN, event.gateway),
                                  "result": _one_of(REFUND_RESULTS, event.result)}
    return None


def payment_result(row: Mapping[str, Any], reconciled: bool = False) -> Data:
    """The final result of a payment, from its journal row as ``finish`` leaves it."""
    status = RESULTS.get(str(row.get("status")), "unknown")
    data: Data = {"status": status, "payment_id": _id(row.get("id")),
                  "amount_minor": int(row.get("amount_minor") or 0),
                  "currency": _fits(re.compile(r"^[A-Z]{3}$"), row.get("currency")),
                  "gateway": _fits(_TOKEN, row.get("gateway")),
                  "brand": _fits(_BRAND, row.get("brand")),
                  "card": _fits(_MASK, row.get("card")),
                  "reference": _fits(_REFERENCE, row.get("reference")),
                  "reconciled": bool(reconciled)}
    if status == "approved":
        data["auth_code"] = _fits(_AUTH_CODE, row.get("auth_code"))
    elif status == "declined":
        data["decline_code"] = _one_of(DECLINE_REASONS, row.get("decline_code"))
        data["decline_reason"] = _fits(_WORDS, row.get("decline_reason"))
    else:
        data["error_kind"] = (row.get("error_kind") if row.get("error_kind") in
                              GATEWAY_ERROR_KINDS + ("cancelled", "reversed") else "other")
        data["needs_reconciliation"] = bool(row.get("needs_reconciliation"))
    if row.get("details"):
        try:
            data["details"] = payment_details.loads(row.get("details"))
        except payment_details.DetailsError:
            data["details"] = WITHHELD
    return data


def envelope(event_id: str, seq: int, tenant: str, created: float, type_: str, data: Data,
             call: Optional[CallRef] = None, call_uuid: Optional[str] = None,
             session_id: Optional[str] = None, extra: Optional[Data] = None) -> bytes:
    """The body as it is stored, signed and sent: compact JSON, keys sorted."""
    body: Data = {"type": type_, "event_id": event_id, "seq": seq, "tenant": tenant,
                  "created": round(created, 3), "data": data,
                  "call_uuid": call.uuid if call is not None else call_uuid,
                  "session_id": (call.session or None) if call is not None else session_id}
    if call is not None and call.flow:
        body["flow"] = call.flow
    body.update(extra or {})
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def refuses(*parts: Any) -> bool:
    """True when any part, as JSON, holds a run of seven digits or more outside a uuid: never
    stored."""
    return any(digits_longer_than_a_bin(json.dumps(part, sort_keys=True)) for part in parts)
