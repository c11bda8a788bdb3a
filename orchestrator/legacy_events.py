"""Transitional (issue 9): the string-keyed payment events, translated to and from the typed stream.

``authorize`` publishes typed events (``payments/events.py``) and the metrics count from them,
while ``collect_card`` still calls ``services.on_payment_event(kind, fields)`` and the agent
sessions (and ``Service.on_payment_event`` watchers) still take ``(channel, kind, fields)``.
For one call, ``LegacyEventBridge``:

- takes collect_card's string events, publishes their typed form to the bus (so metrics and the
  log see card fields), and passes them on to the string watcher unchanged;
- is the call's ``CallEvents``: typed events go to the bus, and authorize's are passed on to the
  string watcher as the ``authorizing`` / ``authorization`` events the sessions read.

A string watcher that raises still stops the flow, as it always did. This module goes once
collect_card publishes typed events and the sessions subscribe to the bus.
"""
from typing import Any, Callable, Dict, Optional, Tuple

from orchestrator.payments.events import (
    Authorizing, CallEvents, CallRef, CardAttemptsExhausted, CardCancelled, CardComplete,
    FieldAccepted, FieldCancelled, FieldRejected, FieldStarted, PaymentApproved,
    PaymentDeclined, PaymentEvent, PaymentEventBus, PaymentFailed,
)

StringWatcher = Callable[[str, Dict[str, Any]], None]   # (kind, fields), masked values only


class LegacyEventBridge(CallEvents):
    def __init__(self, bus: Optional[PaymentEventBus], call: CallRef,
                 watcher: Optional[StringWatcher]) -> None:
        super().__init__(bus, call)
        self.watcher = watcher
        self._attempts: Dict[str, int] = {}
        self._field = ""

    # -- collect_card -> typed -------------------------------------------------------------
    def from_card_step(self, kind: str, fields: Dict[str, Any]) -> None:
        """``CallServices.on_payment_event`` for collect_card."""
        event = self._typed(kind, fields)
        if event is not None:
            super().publish(event)
        if self.watcher is not None:
            self.watcher(kind, fields)

    def _typed(self, kind: str, fields: Dict[str, Any]) -> Optional[PaymentEvent]:
        field = str(fields.get("field") or self._field)
        if kind == "field-started":
            self._field, self._attempts[field] = field, int(fields.get("attempt") or 0)
            return FieldStarted(field, self._attempts[field])
        if kind == "field-valid":
            return FieldAccepted(field, self._attempts.get(field, 0), str(fields.get("masked") or ""),
                                 fields.get("brand"))
        if kind == "field-invalid":
            return FieldRejected(field, int(fields.get("attempt") or 0), str(fields.get("error_type")))
        if kind == "field-cancelled":
            return FieldCancelled(field)
        if kind == "card-complete":
            return CardComplete(str(fields.get("brand")), str(fields.get("masked")))
        if kind == "card-cancelled":
            return CardCancelled()
        if kind == "card-too-many-failed-attempts":
            return CardAttemptsExhausted(self._field)
        return None

    # -- typed (authorize) -> string -------------------------------------------------------
    def publish(self, event: PaymentEvent) -> None:
        super().publish(event)
        legacy = _as_string_event(event)
        if legacy is not None and self.watcher is not None:
            self.watcher(*legacy)


def _as_string_event(event: PaymentEvent) -> Optional[Tuple[str, Dict[str, Any]]]:
    if isinstance(event, Authorizing):
        return "authorizing", {"gateway": event.gateway, "brand": event.brand, "last4": event.last4}
    if isinstance(event, PaymentApproved):
        return "authorization", {"result": "approved", **({"auth_code": event.auth_code}
                                                           if event.auth_code else {})}
    if isinstance(event, PaymentDeclined):
        return "authorization", {"result": "declined", "decline_code": event.reason_code,
                                 "decline_reason": event.reason_text}
    if isinstance(event, PaymentFailed):
        return "authorization", {"result": "error"}
    return None
