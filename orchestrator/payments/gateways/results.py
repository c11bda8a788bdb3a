"""What a gateway says about an authorization: approved, declined, or an error.

These are values, not exceptions: a flow branches on them. ``GatewayError.outcome_unknown``
is the one that matters most: True means the card may have been charged, so the payment must
be reconciled (``Gateway.status`` with the same idempotency key) and never tried again under a
new key.

The two vocabularies a result speaks, the normalised decline reasons and the error kinds, are
defined here once; the metrics' label sets and the payment events are built from them.
"""
from dataclasses import dataclass
from typing import Optional, Union

GENERIC_DECLINE = "The payment was declined by the card's bank."

# Plain words a caller can hear, by the common reason codes the connectors map to.
DECLINE_TEXTS = {
    "insufficient_funds": "There are not enough funds on the card.",
    "do_not_honour": "The card's bank did not approve the payment.",
    "expired_card": "The card has expired.",
    "incorrect_security_code": "The security code is not correct.",
    "incorrect_expiry": "The expiry date is not correct.",
    "card_blocked": "The card is blocked. Please contact your bank.",
    "card_not_supported": "This card cannot be used for this payment.",
    "invalid_card": "The card number is not valid.",
    "issuer_unavailable": "The card's bank is not available. Please try again later.",
    "authentication_failed": "The cardholder could not be verified.",
}
# The normalised decline reasons. A connector may pass on a code of its own (a Redsys "0190");
# that is kept in the record but counted as "other" in the metrics.
DECLINE_REASONS = tuple(DECLINE_TEXTS)

# Why a gateway call ended without a decision. Connection level: connect (refused, unreachable
# or connect timeout: never reached), tls, timeout (no answer after sending), connection (lost
# after sending). Answer level: http (5xx), protocol (an answer we cannot read), rejected (4xx,
# or a gateway error code), auth (our signature refused), signature (the answer's signature
# does not verify), conflict (the key is held by another request), pending (the gateway is
# still working on it). unsupported: the gateway cannot be asked about a key.
GATEWAY_ERROR_KINDS = ("connect", "tls", "timeout", "connection", "http", "protocol", "rejected",
                       "auth", "signature", "conflict", "pending", "unsupported")


@dataclass(frozen=True)
class Approved:
    auth_code: str
    transaction_id: str
    status = "approved"


@dataclass(frozen=True)
class Declined:
    reason_code: str
    reason_text: str = GENERIC_DECLINE
    status = "declined"


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


def decline(reason_code: str, reason_text: Optional[str] = None) -> Declined:
    """A Declined with plain words for a known reason code, the gateway's text otherwise."""
    return Declined(reason_code, DECLINE_TEXTS.get(reason_code) or reason_text or GENERIC_DECLINE)
