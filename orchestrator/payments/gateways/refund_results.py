"""What a gateway says to a refund or a void of a payment it approved.

Values, not exceptions, like the authorization's (``results.py``): ``Refunded`` and ``Voided``
are the gateway's definite word that money went back (or the authorization was released);
``RefundRefused`` its definite word that nothing was refunded (more than is left, a void of a
settled payment, a payment it does not know); a ``GatewayError`` with ``outcome_unknown`` True
means the refund may have happened, and the record stays ``unknown`` until the gateway is
asked again under the same refund key (``reconcile_refunds``), never re-sent under a new one.

``RefundTarget`` is what a connector needs of the payment: its own key, what the gateway
called it, how much and in which currency. Nothing of the card: a refund goes to the card
the gateway charged, which it knows by the transaction.
"""
from dataclasses import dataclass
from typing import Union

from .results import GatewayError, gateway_code

# Why a gateway refused a refund or a void, in our words (a connector maps its own codes here).
REFUSAL_REASONS = ("over_refund", "already_settled", "already_refunded", "voided", "not_found",
                   "not_approved", "unsupported", "refused")
# What a refund or void request ended as, in the store, the events and the metrics.
REFUND_RESULTS = ("succeeded", "refused", "error", "unknown")
KINDS = ("refund", "void")


@dataclass(frozen=True)
class RefundTarget:
    """The approved payment a refund or void is about (no card data: none is needed)."""

    payment_key: str        # the authorization's idempotency key (a Redsys order number)
    transaction_id: str     # what the gateway called the charge
    auth_code: str
    amount_minor: int       # what was charged
    currency: str


@dataclass(frozen=True)
class Refunded:
    """Money went back: ``amount_minor`` of this request; ``refund_id`` the gateway's name."""

    refund_id: str
    amount_minor: int
    status = "succeeded"


@dataclass(frozen=True)
class Voided:
    """The authorization was released before it settled: nothing is charged any more."""

    refund_id: str
    status = "succeeded"


@dataclass(frozen=True)
class RefundRefused:
    """The gateway refused: nothing was refunded. ``reason`` is one of REFUSAL_REASONS;
    ``gateway_code`` the gateway's own code, checked (never its free text)."""

    reason: str
    gateway_code: str = ""
    status = "refused"

    def __post_init__(self) -> None:
        if self.reason not in REFUSAL_REASONS:
            raise ValueError("not a refusal reason: %r" % (self.reason,))
        if self.gateway_code and gateway_code(self.gateway_code) != self.gateway_code:
            raise ValueError("not a gateway code that may be kept")


def refused(raw: object, table: "dict[str, str] | None" = None) -> RefundRefused:
    """The refusal for a gateway's code: through ``table``, or as is when it is one of ours."""
    code = gateway_code(raw)
    reason = (table or {}).get(code) or (code if code in REFUSAL_REASONS else "refused")
    return RefundRefused(reason, "" if code == reason else code)


RefundResult = Union[Refunded, Voided, RefundRefused, GatewayError]


def result_of(answer: RefundResult) -> str:
    """The answer as one of REFUND_RESULTS."""
    if isinstance(answer, GatewayError):
        return "unknown" if answer.outcome_unknown else "error"
    return answer.status
