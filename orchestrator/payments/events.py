"""Payment facts as one typed stream: steps publish, everyone else subscribes.

A card step does not know who is watching. It publishes a frozen event (a field started, a
field accepted, an authorization answered...) to its call's ``CallEvents``; the service's
``PaymentEventBus`` hands each event, with the call it belongs to, to every subscriber:
metrics, status callbacks, agent sessions (and through them the panel's live stream), the log,
and whatever a test or the demo adds. A new metric or a new consumer is one subscriber.

Events carry masked values only (brand, BIN + last four, ``**/**``), never a digit the
caller keyed: every field here is either a name from a fixed vocabulary, a count, or a mask
the card's own type produced. A subscriber that raises is logged and skipped, so a watcher's
fault can never reach the call.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Callable, List, Optional, Union

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRef:
    """Which call an event belongs to: its channel, its tenant (a bounded name), its flow,
    and the agent's payment session bound to it (``pay_session``), if any."""

    uuid: str
    tenant: str = "default"
    flow: str = ""
    session: str = ""


# -- card entry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldStarted:
    """The caller is being asked for ``field`` (attempt counts from 1)."""

    field: str
    attempt: int


@dataclass(frozen=True)
class FieldAccepted:
    """``field`` was keyed and passed its checks; ``masked`` is what an agent may see."""

    field: str
    attempt: int
    masked: str
    brand: Optional[str] = None


@dataclass(frozen=True)
class FieldRejected:
    """An attempt at ``field`` failed with ``error_type`` (input-timeout, invalid-date...)."""

    field: str
    attempt: int
    error_type: str


@dataclass(frozen=True)
class FieldCancelled:
    """Entry stopped during ``field`` (the caller's cancel key, or the agent's cancel)."""

    field: str


@dataclass(frozen=True)
class CardComplete:
    """Every field asked for is in; ``masked`` is brand, BIN and last four."""

    brand: str
    masked: str


@dataclass(frozen=True)
class CardCancelled:
    """The entry ended without a card: cancelled by the caller or the agent, or the agent left."""


@dataclass(frozen=True)
class CardAttemptsExhausted:
    """A field failed ``max_attempts`` times; the entry ended without a card."""

    field: str


# -- the agent's charge (agent_charge) --------------------------------------------------------

@dataclass(frozen=True)
class ChargeAwaited:
    """The card is complete and nothing is charged until the agent says so (or, with no card
    left after a decline, the agent is to say whether to ask for another); ``masked`` is brand,
    BIN and last four, empty after a decline."""

    masked: str


@dataclass(frozen=True)
class ChargeAbandoned:
    """The wait for the agent ended without a charge: ``reason`` is ``timeout``, ``cancelled``
    or ``another-card``; the card was wiped."""

    reason: str


# -- authorization -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Authorizing:
    """The card has been sent to ``gateway``; ``payment_id`` is its record in the ledger."""

    gateway: str
    payment_id: str
    brand: str
    last4: str


@dataclass(frozen=True)
class PaymentApproved:
    gateway: str
    payment_id: str
    auth_code: str
    seconds: float


@dataclass(frozen=True)
class PaymentDeclined:
    """``reason_code`` is one of the normalised decline reasons; ``reason_text`` the words
    for it (never the gateway's free text: see payments/gateways/results.py)."""

    gateway: str
    payment_id: str
    reason_code: str
    reason_text: str
    seconds: float


@dataclass(frozen=True)
class PaymentFailed:
    """No decision: ``kind`` is one of the gateway error kinds; ``outcome_unknown`` means the
    card may have been charged and the payment waits for reconciliation."""

    gateway: str
    payment_id: str
    kind: str
    outcome_unknown: bool
    seconds: float


# -- texts to the caller ----------------------------------------------------------------------

@dataclass(frozen=True)
class TextSent:
    """An SMS the flow sent (or tried to): ``purpose`` is ``confirmation`` (send_sms) or
    ``link`` (send_payment_link); ``result`` the provider's ``sent``, ``error`` or ``timeout``
    (``error`` too for a recipient that is not a phone number: nothing left); ``to`` the
    recipient masked by ``sms.mask_number`` (the last three digits at most), never the text."""

    purpose: str
    result: str
    to: str


# -- the end of the payment ----------------------------------------------------------------------

@dataclass(frozen=True)
class HandedBack:
    """The flow let the caller go: ``destination`` is agent, extension, queue, dialplan or
    goodbye; ``to_agent_leg`` when the caller was bridged back to the very agent leg that
    held or listened during the payment."""

    destination: str
    to_agent_leg: bool = False


@dataclass(frozen=True)
class SurveyRated:
    """After paying, the caller rated the call ``rating`` (1 to 5), recorded with the payment
    ``payment_id``. A caller who keyed no rating publishes nothing."""

    payment_id: str
    rating: int


# -- after the payment --------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentRefunded:
    """A refund of the approved payment ``payment_id`` was answered: ``result`` is one of
    succeeded, refused, error, unknown (``refund_results.REFUND_RESULTS``); ``amount_minor``
    what was asked, ``refunded_minor`` what the payment has given back in all now."""

    gateway: str
    payment_id: str
    refund_id: str
    amount_minor: int
    currency: str
    result: str
    refunded_minor: int


@dataclass(frozen=True)
class PaymentVoided:
    """A void of the payment ``payment_id`` was answered (``result`` as a refund's)."""

    gateway: str
    payment_id: str
    refund_id: str
    result: str


@dataclass(frozen=True)
class PaymentCardStored:
    """A card was kept on file (the ``authorize`` step's ``store_card``): our id of it
    (``card_...``, never the gateway's token), brand and last four, the customer reference it
    is kept under, and the payment it was charged with ("" when stored without a charge)."""

    gateway: str
    card_token_id: str
    brand: str
    last4: str
    customer: str
    payment_id: str


PaymentEvent = Union[FieldStarted, FieldAccepted, FieldRejected, FieldCancelled, CardComplete,
                     CardCancelled, CardAttemptsExhausted, ChargeAwaited, ChargeAbandoned,
                     Authorizing, PaymentApproved, PaymentDeclined, PaymentFailed, TextSent,
                     HandedBack, SurveyRated, PaymentRefunded, PaymentVoided,
                     PaymentCardStored]
EVENT_TYPES = PaymentEvent.__args__  # type: ignore[attr-defined]
Subscriber = Callable[[CallRef, "PaymentEvent"], None]


def describe(event: PaymentEvent) -> str:
    """``FieldRejected field=expiry attempt=1 error_type=invalid-date``: one log-safe line."""
    parts = ["%s=%s" % (f.name, getattr(event, f.name)) for f in fields(event)]
    return " ".join([type(event).__name__] + parts)


class PaymentEventBus:
    """The service's one stream of payment facts. ``subscribe`` before calls start."""

    def __init__(self) -> None:
        self._subscribers: List[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, call: CallRef, event: PaymentEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(call, event)
            except Exception as exc:   # a watcher's fault must never reach the call
                log.error("payment event subscriber %s failed on %s: %s",
                          getattr(subscriber, "__qualname__", type(subscriber).__name__),
                          type(event).__name__, type(exc).__name__)

    def for_call(self, call: CallRef) -> "CallEvents":
        return CallEvents(self, call)


class CallEvents:
    """What a step holds: publishes to the bus with its call's identity stamped on."""

    def __init__(self, bus: Optional[PaymentEventBus], call: CallRef) -> None:
        self.bus = bus
        self.call = call

    def publish(self, event: PaymentEvent) -> None:
        if self.bus is not None:
            self.bus.publish(self.call, event)


def log_subscriber(logger: logging.Logger) -> Subscriber:
    """A subscriber that writes each payment fact as one INFO line (masked by construction,
    redacted by the handlers anyway)."""

    def log_payment_event(call: CallRef, event: PaymentEvent) -> None:
        if logger.isEnabledFor(logging.INFO):   # the line is built only when it is written
            logger.info("payment event %s", describe(event))

    return log_payment_event
