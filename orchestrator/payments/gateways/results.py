"""What a gateway says about an authorization: approved, declined, or an error.

These are values, not exceptions: a flow branches on them. ``GatewayError.outcome_unknown``
is the one that matters most: True means the card may have been charged, so the payment must
be reconciled (``Gateway.status`` with the same idempotency key) and never tried again under a
new key.
"""
from dataclasses import dataclass

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
    """kind: connect, tls, timeout, connection, http, protocol, rejected, auth, signature,
    conflict, pending, unsupported. ``detail`` is for logs; it never holds card data."""
    kind: str
    outcome_unknown: bool
    detail: str = ""
    status = "error"


def decline(reason_code, reason_text=None):
    """A Declined with plain words for a known reason code, the gateway's text otherwise."""
    return Declined(reason_code, DECLINE_TEXTS.get(reason_code) or reason_text or GENERIC_DECLINE)
