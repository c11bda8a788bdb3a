"""Payment sessions: what an agent started on a call, and how far the caller has got.

A session is bound to one call (the customer's leg) and fed by the flow's typed payment events
(``payments/events.py``, through the service's event bus) for the call whose channel carries
``pay_session=<id>``. It
holds masked values only: the card steps hand over brand, BIN + last four and ``**/**``;
``_masked_only`` refuses anything else, so a mistake upstream cannot put a digit in a response,
an SSE stream or a webhook. Watchers (SSE streams) get bounded queues: a browser that stops
reading is dropped (it reconnects and gets a fresh snapshot), it never holds up a call.
"""
from __future__ import annotations

import datetime
import logging
import re
import secrets
import time
from collections import OrderedDict
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Type, TypedDict, Union)

from gevent.queue import Full, Queue

from orchestrator.engine.channel import Channel
from orchestrator.payments.events import (Authorizing, CallRef, CardAttemptsExhausted, CardCancelled,
                                          ChargeAbandoned, ChargeAwaited, FieldAccepted,
                                          FieldRejected, FieldStarted, PaymentApproved,
                                          PaymentDeclined, PaymentEvent, PaymentFailed, TextSent)
from orchestrator.payments.money import Money
from orchestrator.payments.validation import FIELDS, NUMBER_CONFIRMATION

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack

    from orchestrator.esl.inbound import NodeConnection

    from .settings import Principal

log = logging.getLogger(__name__)

AGENT_DECIDES = "agent_decides"   # after a decline: the flow waits for the agent (charge: agent)
# after a decline, the flow goes on with this session: listed by GET /sessions
GOES_ON = ("another_card", AGENT_DECIDES)
# awaiting_charge: the card is complete and the agent is to charge it (``"charge": "agent"``)
ACTIVE_STATES = ("created", "waiting", "collecting", "awaiting_charge", "authorizing")
# link_sent: the caller was texted a link to pay outside the call (``method: link``)
# expired: the agent did not charge in time, the card was wiped (agent_api.charge_timeout)
PAYMENT_OUTCOMES = ("approved", "declined", "cancelled", "failed", "error", "link_sent",
                    "expired")
CHARGES = ("auto", "agent")   # who starts the charge: the flow when the card is complete, or the agent
METHODS = ("card", "link")
SUBSCRIBER_QUEUE = 200        # events a watcher may fall behind before it is dropped
KEEP_ENDED = 1000             # ended sessions still answered by GET (most recent)
_NUMBER_MASK = re.compile(r"^[a-z]{0,12} ?\d{0,6}\**\d{0,4}$")
_PLAIN_MASK = re.compile(r"^[*/]{0,12}$")
_NO_DIGITS = re.compile(r"^[^0-9]*$")
_AUTH_CODE = re.compile(r"^[A-Za-z0-9-]{0,12}$")
_MASKED_NUMBER = re.compile(r"^\+?\**[0-9]{0,3}$")
TEXT_PURPOSES, TEXT_RESULTS = ("confirmation", "link"), ("sent", "error", "timeout")
END_OF_STREAM = object()

Payload = Dict[str, Any]                 # a change as the API, the stream and webhooks show it
AgentRequest = Tuple[str, ...]           # ("cancel",) | ("recapture", field) | ("charge",)
Listener = Callable[["PaymentSession", str, Payload], None]
Observer = Callable[["PaymentSession", bool], None]


class FieldState(TypedDict):
    """One card field of a session, as ``to_json`` shows it (masked values only)."""

    state: str                   # pending, typing, valid, invalid
    digits: int
    masked: Optional[str]
    error_type: Optional[str]
    attempt: int


class FieldChanges(TypedDict, total=False):
    """What one payment event changes in a ``FieldState``."""

    state: str
    masked: Optional[str]
    error_type: Optional[str]
    attempt: int


class SessionConflict(Exception):
    """The call already has a session in progress."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _masked_only(field: str, value: object) -> Optional[str]:
    """The masked text when it is one, else None: the last guard before anything is shown."""
    if value is None:
        return None
    value = str(value)
    pattern = _NUMBER_MASK if field == "number" else _PLAIN_MASK
    if pattern.match(value):
        return value
    log.error("masked value for %s refused: not a mask", field)
    return None


class PaymentSession:
    def __init__(self, tenant: str, agent: Optional[str], call_uuid: str, mode: str, flow: str,
                 money: Money, reference: str, fields: Sequence[str] = FIELDS[:3],
                 method: str = "card", sms_to: Optional[str] = None,
                 charge: str = "auto") -> None:
        """``charge``: ``auto`` (the flow charges the complete card) or ``agent`` (the flow
        waits in ``awaiting_charge`` for the agent's ``charge``, ``engine/steps/agent_charge.py``).
        ``method``: ``card`` (keyed on the phone) or ``link`` (texted); ``sms_to``: where the
        flow texts the confirmation or the link: a phone number, ``caller`` (the caller's own
        number), or None (no confirmation text). Both reach the call as ``pay_method`` and
        ``pay_sms_to`` (``control.py``); the number is shown masked only."""
        self.id = "ps_" + secrets.token_hex(12)
        self.tenant, self.agent, self.call_uuid = tenant, agent, call_uuid
        self.mode, self.flow, self.money, self.reference = mode, flow, money, reference
        self.language = ""   # the caller's language the agent chose (pay_language), if any
        self.method, self.sms_to = method, sms_to
        self.charge = charge
        # the agent-started charge: which wait for the agent this is (1, 2... one per card
        # complete or decline), whether its charge was asked for, and whether the flow
        # waits for the agent's decision after a decline
        self.charge_attempt = 0
        self.charge_requested = False
        self.awaiting_decision = False
        # one more with every change watchers hear (each event of the stream carries it as its
        # id, to_json its latest): a page compares it to tell an older answer from a newer
        self.version = 0
        # the latest text the flow sent the caller: {"purpose", "result", "to" (masked)}
        self.sms: Optional[Dict[str, str]] = None
        self.state = "created"
        self.fields: Dict[str, FieldState] = {
            f: {"state": "pending", "digits": 0, "masked": None, "error_type": None, "attempt": 0}
            for f in fields}
        self.result: Optional[Dict[str, str]] = None
        # cards sent to the bank so far, and after a decline what the flow does next:
        # {"next": another_card | no_more_cards | agent_decides | unknown, "card", "cards_allowed"}
        self.cards = 0
        self.after_decline: Optional[Payload] = None
        self.created = self.updated = _now()
        self.ended_at: Optional[float] = None
        # what the live call needs (never shown): the agent's leg and the node holding both
        self.agent_leg: Optional[str] = None
        self.node: Optional["NodeConnection"] = None
        self.hold: Optional[str] = None
        self.bridged_back = False
        # ("cancel",) | ("recapture", field): read by collect_card
        self.request: Optional[AgentRequest] = None
        self._subscribers: List[Queue] = []

    @property
    def active(self) -> bool:
        # a decline the flow holds for the agent's decision (another card?) is still in progress
        return self.state in ACTIVE_STATES or (self.awaiting_decision and self.state != "ended")

    @property
    def awaiting_card(self) -> bool:
        """Declined, and the flow is asking the caller for another card or waiting for the
        agent to say whether to: still the agent's payment in progress, though no longer in an
        active state until that card starts."""
        return (self.state == "declined" and self.after_decline is not None
                and self.after_decline["next"] in GOES_ON)

    @property
    def in_card_entry(self) -> bool:
        return self.state in ("created", "waiting", "collecting")

    def to_json(self) -> Payload:
        return {"id": self.id, "tenant": self.tenant, "agent": self.agent,
                "call_uuid": self.call_uuid, "mode": self.mode, "flow": self.flow,
                "amount": self.money.minor, "currency": self.money.currency,
                "amount_text": str(self.money), "reference": self.reference, "state": self.state,
                "fields": {name: dict(value) for name, value in self.fields.items()},
                "result": dict(self.result) if self.result else None,
                "after_decline": dict(self.after_decline) if self.after_decline else None,
                "method": self.method, "sms": dict(self.sms) if self.sms else None,
                "charge": self.charge, "charge_attempt": self.charge_attempt,
                "awaiting_decision": self.awaiting_decision, "version": self.version,
                "created": self.created, "updated": self.updated}

    # -- watchers ----------------------------------------------------------------------------
    def subscribe(self) -> Queue:
        """A bounded queue of ``(event, payload, version)``; END_OF_STREAM after the final state."""
        queue = Queue(maxsize=SUBSCRIBER_QUEUE)
        if self.state == "ended":
            queue.put(END_OF_STREAM)
        else:
            self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: Queue) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def _publish(self, event: str, payload: Payload) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait((event, payload, self.version))
            except Full:  # a watcher that stopped reading: drop it, never wait for it
                self._subscribers.remove(queue)
                log.warning("session %s: a watcher fell %d events behind and was dropped",
                            self.id, SUBSCRIBER_QUEUE)

    def _close_streams(self) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(END_OF_STREAM)
            except Full:
                pass
        self._subscribers = []


class SessionRegistry:
    """Every session by id, the active one by call; turns payment events into session changes.

    ``listeners`` are ``callable(session, event, payload)`` called for every change (the
    status callbacks' writer);
    ``observers`` are ``callable(session, removed)`` called when a session is made, changed or
    (``removed``) forgotten before it started (the store's copy, ``durable.py``). Neither may
    block.
    """

    def __init__(self) -> None:
        self._sessions: "OrderedDict[str, PaymentSession]" = OrderedDict()
        self._by_call: Dict[str, PaymentSession] = {}
        self.listeners: List[Listener] = []
        self.observers: List[Observer] = []
        # flow name -> the cards it takes from one caller at most, or None (card_retries.py)
        self.cards_allowed: Callable[[str], Optional[int]] = lambda flow: None
        # flow name -> whether, charged by the agent, it waits for the agent after a decline
        self.agent_decides_after_decline: Callable[[str], bool] = lambda flow: False

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, tenant: str, agent: Optional[str], call_uuid: str, mode: str, flow: str,
               money: Money, reference: str, method: str = "card",
               sms_to: Optional[str] = None, charge: str = "auto") -> PaymentSession:
        current = self._by_call.get(call_uuid)
        if current is not None and current.active:
            raise SessionConflict(current.id)
        session = PaymentSession(tenant, agent, call_uuid, mode, flow, money, reference,
                                 method=method, sms_to=sms_to, charge=charge)
        self._sessions[session.id] = session
        self._by_call[call_uuid] = session
        self._trim()
        self._observe(session)
        return session

    def has_active(self, call_uuid: str) -> bool:
        return self.active_session(call_uuid) is not None

    def active_session(self, call_uuid: str) -> Optional[PaymentSession]:
        """The session in progress on the call, or None."""
        current = self._by_call.get(call_uuid)
        return current if current is not None and current.active else None

    def discard(self, session: PaymentSession) -> None:
        """Forget a session that never started (its call could not be handed over)."""
        self._sessions.pop(session.id, None)
        if self._by_call.get(session.call_uuid) is session:
            del self._by_call[session.call_uuid]
        if session.state != "ended":     # an ended one trimmed from memory stays in the store
            self._observe(session, removed=True)

    def _observe(self, session: PaymentSession, removed: bool = False) -> None:
        for observer in list(self.observers):
            try:
                observer(session, removed)
            except Exception:  # the store's copy must never reach the call
                log.exception("session observer failed")

    def get(self, session_id: str) -> Optional[PaymentSession]:
        return self._sessions.get(session_id)

    def visible_to(self, principal: "Principal", active_only: bool = True) -> List[PaymentSession]:
        return [s for s in self._sessions.values()
                if principal.may_see(s) and (s.active or s.awaiting_card or not active_only)]

    def for_channel(self, channel: Channel) -> Optional[PaymentSession]:
        """The live session ``channel`` carries in ``pay_session``, when it is that very call's:
        a variable copied to another leg (inherited, exported) must not drive someone's session."""
        session_id = (getattr(channel, "variables", None) or {}).get("pay_session")
        session = self._sessions.get(session_id) if session_id else None
        if session is None or session.state == "ended" or session.call_uuid != channel.uuid:
            return None
        return session

    def _trim(self) -> None:
        ended = [s for s in self._sessions.values() if s.state == "ended"]
        for session in ended[:max(0, len(ended) - KEEP_ENDED)]:
            self.discard(session)

    # -- changes ---------------------------------------------------------------------------
    def set_state(self, session: PaymentSession, state: str) -> None:
        if session.state == state:
            return
        session.state, session.updated = state, _now()
        self._emit(session, "state", {"state": state})
        if state == "ended":
            session.ended_at = time.monotonic()
            session._close_streams()
            if self._by_call.get(session.call_uuid) is session:
                del self._by_call[session.call_uuid]

    def _emit(self, session: PaymentSession, event: str, payload: Payload) -> None:
        session.version += 1
        session._publish(event, payload)
        for listener in list(self.listeners):
            try:
                listener(session, event, payload)
            except Exception:  # a watcher's fault must never reach the call
                log.exception("session listener failed")
        self._observe(session)

    def _field(self, session: PaymentSession, name: str, **changes: Unpack[FieldChanges]) -> None:
        name = "number" if name == "number-confirmation" else name
        if name not in session.fields:
            session.fields[name] = {"state": "pending", "digits": 0, "masked": None,
                                    "error_type": None, "attempt": 0}
        entry = session.fields[name]
        entry.update(changes)
        session.updated = _now()
        payload: Payload = {"field": name, "state": entry["state"], "attempt": entry["attempt"]}
        if entry["state"] == "valid":
            payload["masked"] = entry["masked"]
        if entry["state"] == "invalid":
            payload["error_type"] = entry["error_type"]
        self._emit(session, "field", payload)

    def call_started(self, channel: Channel) -> Optional[PaymentSession]:
        session = self.for_channel(channel)
        if session is not None and session.state in ("created", "waiting"):
            self.set_state(session, "waiting")
        return session

    def call_ended(self, channel: Channel) -> Optional[PaymentSession]:
        session = self.for_channel(channel)
        if session is None:
            return None
        if session.active and not session.awaiting_decision:   # ended before the payment did
            self.set_state(session, "cancelled" if session.request == ("cancel",) else "error")
        self.set_state(session, "ended")
        return session

    def take_request(self, channel: Channel,
                     kinds: Sequence[str] = ("cancel", "recapture")) -> Optional[AgentRequest]:
        """collect_card asks between fields: ``("cancel",)``, ``("recapture", field)`` or None;
        only a request of one of ``kinds`` is taken (the others wait for the next ask)."""
        session = self.for_channel(channel)
        if session is None or session.request is None or session.request[0] not in kinds:
            return None
        request, session.request = session.request, None
        return request

    def on_payment_event(self, call: CallRef, event: PaymentEvent) -> None:
        """The bus's subscriber: the session bound to ``call`` follows the payment."""
        session = self._sessions.get(call.session) if call.session else None
        if session is None or session.state == "ended" or session.call_uuid != call.uuid:
            return
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, session, event)


def _started(registry: SessionRegistry, session: PaymentSession, event: FieldStarted) -> None:
    if session.state == "declined":
        # another card: the declined one's fields say nothing of it, each starts afresh
        for name in list(session.fields):
            registry._field(session, name, state="pending", masked=None, error_type=None,
                            attempt=0)
    registry.set_state(session, "collecting")
    registry._field(session, event.field, state="typing", masked=None, error_type=None,
                    attempt=event.attempt)


def _accepted(registry: SessionRegistry, session: PaymentSession, event: FieldAccepted) -> None:
    field = "number" if event.field == NUMBER_CONFIRMATION else event.field
    registry._field(session, event.field, state="valid", error_type=None,
                    masked=_masked_only(field, event.masked))


def _rejected(registry: SessionRegistry, session: PaymentSession, event: FieldRejected) -> None:
    error_type = event.error_type
    registry._field(session, event.field, state="invalid", masked=None,
                    error_type=error_type if error_type and _NO_DIGITS.match(error_type) else None,
                    attempt=event.attempt)


def _authorizing(registry: SessionRegistry, session: PaymentSession, event: Authorizing) -> None:
    session.cards += 1
    session.awaiting_decision = False
    registry.set_state(session, "authorizing")


_PAYMENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _after_decline(registry: SessionRegistry, session: PaymentSession) -> Payload:
    """What the flow does after this decline, by its definition (``card_retries.py``): the
    ``card``-th card was declined of ``cards_allowed`` (None: the flow does not say). On a
    call the agent charges, a flow that waits for the agent after a decline asks for no card
    by itself: ``agent_decides`` (another card or cancel), however many cards it has taken."""
    card = max(session.cards, 1)
    if session.charge == "agent" and registry.agent_decides_after_decline(session.flow):
        return {"next": AGENT_DECIDES, "card": card, "cards_allowed": None}
    allowed = registry.cards_allowed(session.flow)
    if allowed is None:
        following = "unknown"
    else:
        following = "another_card" if card < allowed else "no_more_cards"
    return {"next": following, "card": card, "cards_allowed": allowed}


def _charge_awaited(registry: SessionRegistry, session: PaymentSession,
                    event: ChargeAwaited) -> None:
    """The flow waits for the agent: to charge the complete card (``awaiting_charge``), or,
    after a decline (no card, ``masked`` empty), to say whether to ask for another; a new
    wait is a new attempt, which the agent's charge names (``charge_attempt``)."""
    session.charge_attempt += 1
    session.charge_requested = False
    session.awaiting_decision = not event.masked
    if session.awaiting_decision and session.after_decline is not None:
        # the flow is in fact waiting for the agent, whatever its definition was read to say
        session.after_decline = dict(session.after_decline, next=AGENT_DECIDES,
                                     cards_allowed=None)
    session.updated = _now()
    registry._emit(session, "charge", {"awaiting": "decision" if session.awaiting_decision
                                       else "charge", "attempt": session.charge_attempt})
    if event.masked:
        registry.set_state(session, "awaiting_charge")


def _charge_abandoned(registry: SessionRegistry, session: PaymentSession,
                      event: ChargeAbandoned) -> None:
    """The wait ended without a charge: expired (the agent's time ran out), cancelled, or
    another card asked for (card entry starts again: ``collecting``)."""
    session.awaiting_decision = False
    session.charge_requested = False
    registry._emit(session, "charge", {"abandoned": event.reason,
                                       "attempt": session.charge_attempt})
    if event.reason == "timeout":
        registry.set_state(session, "expired")
    elif event.reason == "cancelled":
        registry.set_state(session, "cancelled")


def _answered(registry: SessionRegistry, session: PaymentSession,
              event: Union[PaymentApproved, PaymentDeclined, PaymentFailed]) -> None:
    """An authorization's answer: approved, declined (with its normalised reason) or error."""
    if isinstance(event, PaymentApproved):
        status = "approved"
    elif isinstance(event, PaymentDeclined):
        status = "declined"
    else:
        status = "error"
    result = {"status": status}
    if _PAYMENT_ID.match(event.payment_id or ""):
        # the journal's record: what the panel refunds or voids (agent/payments_api.py)
        result["payment_id"] = event.payment_id
    if isinstance(event, PaymentApproved) and _AUTH_CODE.match(event.auth_code or ""):
        result["auth_code"] = event.auth_code
    if isinstance(event, PaymentDeclined):
        reason = event.reason_text or ""
        result["decline_reason"] = reason if _NO_DIGITS.match(reason) else "declined"
    number_field = session.fields.get("number")
    number = (number_field["masked"] if number_field else None) or ""
    brand, _, digits = number.rpartition(" ")
    if brand:
        result["brand"] = brand
    if len(digits) >= 4 and digits[-4:].isdigit():
        result["last4"] = digits[-4:]
    session.result = result
    session.after_decline = _after_decline(registry, session) if status == "declined" else None
    shown: Payload = dict(result)
    if session.after_decline is not None:
        shown["after_decline"] = dict(session.after_decline)
    registry._emit(session, "authorization", shown)
    registry.set_state(session, status)


def _texted(registry: SessionRegistry, session: PaymentSession, event: TextSent) -> None:
    """A text to the caller: shown as the session's ``sms`` (masked number, fixed words) and
    streamed as an ``sms`` event. A link texted is the session's outcome (``link_sent``); one
    that could not be sent is an ``error`` (the agent may start a card payment instead). A
    confirmation that failed changes nothing else: the payment's result stands."""
    if event.purpose not in TEXT_PURPOSES or event.result not in TEXT_RESULTS:
        log.error("session %s: a text event outside the vocabulary was refused", session.id)
        return
    to = event.to if _MASKED_NUMBER.match(event.to or "") else "***"
    session.sms = {"purpose": event.purpose, "result": event.result, "to": to}
    registry._emit(session, "sms", dict(session.sms))
    if event.purpose == "link" and session.active:
        # a timeout may have reached the caller: the link stays payable (send_payment_link)
        registry.set_state(session, "link_sent" if event.result in ("sent", "timeout") else "error")


# each handler takes the events of its own type: dispatch is by ``type(event)``
_HANDLERS: Mapping[Type[Any], Callable[[SessionRegistry, PaymentSession, Any], None]] = {
    FieldStarted: _started,
    FieldAccepted: _accepted,
    FieldRejected: _rejected,
    CardCancelled: lambda r, s, e: r.set_state(s, "cancelled"),
    CardAttemptsExhausted: lambda r, s, e: r.set_state(s, "failed"),
    Authorizing: _authorizing,
    ChargeAwaited: _charge_awaited,
    ChargeAbandoned: _charge_abandoned,
    PaymentApproved: _answered,
    PaymentDeclined: _answered,
    PaymentFailed: _answered,
    TextSent: _texted,
}
