"""What a gateway says about an authorization: approved, declined, or an error.

These are values, not exceptions: a flow branches on them. ``GatewayError.outcome_unknown``
is the one that matters most: True means the card may have been charged, so the payment must
be reconciled (``Gateway.status`` with the same idempotency key) and never tried again under a
new key.

The two vocabularies a result speaks, the normalised decline reasons and the error kinds, are
defined here once; the metrics' label sets and the payment events are built from them.
"""
from dataclasses import dataclass
import os
import re

import yaml
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Tuple, Union

if TYPE_CHECKING:   # tokens.py imports this module
    from .tokens import CardToken

# The normalised decline reasons the connectors map to, by code. Their words are the prompt
# catalogs' (``reasons:`` in orchestrator/catalog/<language>.yaml), one wording per reason per
# language: what a caller hears is what pay_decline_reason and the agent panel say. The record
# keeps the English catalog's words, read here once.
DECLINE_CODES = ("insufficient_funds", "do_not_honour", "expired_card", "incorrect_security_code",
                 "incorrect_expiry", "card_blocked", "card_not_supported", "invalid_card",
                 "issuer_unavailable", "authentication_failed",
                 # a payment link's: its gateway said it expired unpaid, or its page's payment failed
                 "link_expired", "link_failed")
GENERIC_REASON = "generic"    # the catalogs' words for a code no table maps ("other")


def _english_reasons() -> Tuple[Dict[str, str], str]:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "catalog", "en.yaml")
    with open(path, encoding="utf-8") as handle:
        reasons = (yaml.safe_load(handle) or {}).get("reasons") or {}
    missing = [code for code in DECLINE_CODES + (GENERIC_REASON,) if not reasons.get(code)]
    if missing:
        raise RuntimeError("%s: reasons: lacks %s" % (path, ", ".join(missing)))
    return {code: str(reasons[code]) for code in DECLINE_CODES}, str(reasons[GENERIC_REASON])


DECLINE_TEXTS, GENERIC_DECLINE = _english_reasons()
# The normalised decline reasons; a code no table maps is "other". A connector's own code (a
# Redsys "0190") travels beside it as ``gateway_code``, checked, for the record and the logs.
OTHER_DECLINE = "other"
DECLINE_REASONS = tuple(DECLINE_TEXTS) + (OTHER_DECLINE,)
# A gateway's own decline code as it may be kept: a short token, never a run of digits long
# enough to be part of a card number (an echoing gateway could put one there).
_GATEWAY_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_DIGIT_RUN = re.compile(r"\d{7,}")

# Why a gateway call ended without a decision. Connection level: connect (refused, unreachable
# or connect timeout: never reached), tls, timeout (no answer after sending), connection (lost
# after sending). Answer level: http (5xx), protocol (an answer we cannot read), rejected (4xx,
# or a gateway error code), auth (our signature refused), signature (the answer's signature
# does not verify), conflict (the key is held by another request), pending (the gateway is
# still working on it). unsupported: the gateway cannot be asked about a key. internal: our
# own code failed during the call (a connector's bug, RecursionError, MemoryError); whether the
# request had left by then decides ``outcome_unknown`` (``gateways/failures.py``). mismatch: the
# gateway answered for another amount, currency or card than the payment's (an answer that is
# not this payment's says nothing about it). interrupted: the service stopped (SIGTERM past its
# grace) while the gateway was being asked.
GATEWAY_ERROR_KINDS = ("connect", "tls", "timeout", "connection", "http", "protocol", "rejected",
                       "auth", "signature", "conflict", "pending", "unsupported", "internal",
                       "mismatch", "interrupted")


@dataclass(frozen=True)
class PaymentFacts:
    """What a gateway says a decision of its was for: the amount, and the card as brand, BIN
    and last four (never more: a connector builds this only from a six-digit BIN and a
    four-digit last four it has checked). Reconciliation compares these with the payment
    record before it takes the decision as the payment's (``payments/matching.py``)."""

    amount_minor: int
    currency: str
    brand: str = ""
    bin: str = ""
    last4: str = ""

    def __post_init__(self) -> None:
        if self.bin and not _BIN.fullmatch(self.bin) or \
                self.last4 and not _LAST4.fullmatch(self.last4):
            raise ValueError("a card summary holds a six-digit BIN and the last four only")


_BIN = re.compile(r"[0-9]{6}")
_LAST4 = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class Approved:
    auth_code: str
    transaction_id: str
    facts: Optional[PaymentFacts] = None    # what the gateway said it charged, if it said
    card_token: Optional["CardToken"] = None  # the card kept on file, when asked (tokens.py)
    status = "approved"


@dataclass(frozen=True)
class Declined:
    """A decline, in our words only: ``reason_code`` is one of DECLINE_REASONS and
    ``reason_text`` its plain words (never the gateway's free text, which could hold anything,
    a card number or ``${...}`` included); ``gateway_code`` is the gateway's own code, checked."""

    reason_code: str
    gateway_code: str = ""
    facts: Optional[PaymentFacts] = None    # what the gateway said it declined, if it said
    status = "declined"

    def __post_init__(self) -> None:
        if self.reason_code not in DECLINE_REASONS:
            raise ValueError("not a normalised decline reason: use decline()")
        if self.gateway_code and gateway_code(self.gateway_code) != self.gateway_code:
            raise ValueError("not a gateway code that may be kept: use decline()")

    @property
    def reason_text(self) -> str:
        return DECLINE_TEXTS.get(self.reason_code, GENERIC_DECLINE)


@dataclass(frozen=True)
class GatewayError:
    """``kind`` is one of GATEWAY_ERROR_KINDS (anything else is a bug in a connector and
    raises ValueError). ``detail`` is for logs; it never holds card data."""
    kind: str
    outcome_unknown: bool
    detail: str = ""
    status = "error"

    def __post_init__(self) -> None:
        if self.kind not in GATEWAY_ERROR_KINDS:
            raise ValueError("unknown gateway error kind %r" % (self.kind,))


GatewayResult = Union[Approved, Declined, GatewayError]


@dataclass(frozen=True)
class Cancelled:
    """The gateway's definite word that nothing is charged under a key, nor ever will be: it
    had no record and now refuses the key, or it reversed what it had (``reversed``). The
    answer to ``Gateway.cancel(key)``; a "not found" from a status query is not this (a
    status endpoint may lag behind the charges)."""

    reversed: bool = False
    status = "cancelled"


CancelResult = Union[Cancelled, Approved, Declined, GatewayError]


def gateway_code(raw: object) -> str:
    """A gateway's own code as it may be kept, or "" when it does not look like a code."""
    text = str(raw or "").strip()
    return text if _GATEWAY_CODE.match(text) and not _DIGIT_RUN.search(text) else ""


def decline(raw_code: object, reasons: Optional[Mapping[str, str]] = None,
            facts: Optional[PaymentFacts] = None) -> Declined:
    """The Declined for a gateway's code: normalised through ``reasons`` (a connector's table
    of its own codes), or taken as is when it already is one of ours; "other" otherwise."""
    code = gateway_code(raw_code)
    reason = (reasons or {}).get(code) or (code if code in DECLINE_TEXTS else OTHER_DECLINE)
    return Declined(reason, "" if code == reason else code, facts)
