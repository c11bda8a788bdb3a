"""Who writes the outbox: three listeners, each for one source of events, none in the engine.

- ``on_payment_event`` subscribes to the service's ``PaymentEventBus`` (as metrics do): a card
  field started, accepted or rejected, the card complete or abandoned, the card sent to the
  gateway. Written at once, in the call's greenlet: one short insert.
- ``on_outcome`` is the journal's outcome hook (``PaymentStore.outcome_hooks``): the final
  result (approved, declined, failed, unknown; ``reconciled`` when ``orchestrator reconcile``
  settled it) is written in the same transaction as the payment's outcome, so a payment is
  never settled without its callback, nor a callback sent for an outcome that was not kept.
  The journal runs it under a savepoint: if writing the row fails, the outcome is kept.
- ``on_session_change`` is the agent session registry's listener: each session change.

Only tenants with a receiver get rows. A row that cannot be stored (the tenant's
``queue_size`` rows are pending, the body is longer than ``max_body``, the body would hold a
card-like run of digits, the store failed) is dropped: logged, counted in
``payivr_outbox_dropped_total{tenant}``, and the tenant's seq shows the gap.
"""
import logging
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, Optional

from orchestrator.payments.events import Authorizing, CallRef, PaymentEvent
from orchestrator.store.backend import Transaction

from . import bodies
from .outbox import FULL, STORED, TOO_LARGE, Added, BodyBuilder, Outbox
from .settings import ReceiverSettings

log = logging.getLogger(__name__)
# payments in flight whose call this writer knows (from Authorizing): the result's session
CALLS_REMEMBERED = 10000


class OutboxWriter:
    def __init__(self, outbox: Outbox, receivers: Mapping[str, ReceiverSettings],
                 metrics: Any = None, wake: Optional[Callable[[str], None]] = None) -> None:
        self.outbox, self.receivers = outbox, dict(receivers)
        self.metrics = metrics
        self.wake = wake          # the sender's lane of a tenant, told a row is there
        self._calls: "OrderedDict[str, CallRef]" = OrderedDict()

    # -- the three sources ---------------------------------------------------------------
    def on_payment_event(self, call: CallRef, event: PaymentEvent) -> None:
        mapped = bodies.payment_event(event)
        if mapped is None or call.tenant not in self.receivers:
            return
        type_, data = mapped
        if isinstance(event, Authorizing):
            self._calls[event.payment_id] = call
            while len(self._calls) > CALLS_REMEMBERED:
                self._calls.popitem(last=False)
        self._write(call.tenant, type_, lambda event_id, seq, created: bodies.envelope(
            event_id, seq, call.tenant, created, type_, data, call=call))

    def on_outcome(self, tx: Transaction, row: Mapping[str, Any], reconciled: bool) -> None:
        """In the journal's transaction (under its savepoint): raises when the row could not
        be written, so the journal rolls the savepoint back and logs it."""
        tenant = str(row.get("tenant") or "default")
        if tenant not in self.receivers:
            return
        data = bodies.payment_result(row, reconciled)
        # the call's session and flow, when this instance saw the card sent (reconcile did not)
        call = self._calls.get(str(row.get("id")))
        try:
            self._write(tenant, "payment.result", lambda event_id, seq, created:
                        bodies.envelope(event_id, seq, tenant, created, "payment.result", data,
                                        call=call, call_uuid=row.get("call_uuid") or None),
                        tx=tx)
        except Exception as error:
            self._dropped(tenant, "writing it failed (%s); the outcome is kept"
                          % type(error).__name__, "payment.result")
            raise

    def on_session_change(self, session: Any, event: str, payload: Dict[str, Any]) -> None:
        tenant = session.tenant
        if tenant not in self.receivers:
            return
        shown = session.to_json()
        type_ = "session.%s" % event
        self._write(tenant, type_, lambda event_id, seq, created: bodies.envelope(
            event_id, seq, tenant, created, type_, payload, call_uuid=shown.get("call_uuid"),
            session_id=session.id, extra={"session": shown}),
            checked=(payload, shown.get("fields"), shown.get("result")))

    # -- storing -------------------------------------------------------------------------
    def _write(self, tenant: str, type_: str, build: BodyBuilder,
               tx: Optional[Transaction] = None, checked: tuple = ()) -> None:
        """``checked``: the parts of a body not built from patterns here (a session's), which
        ``bodies.refuses`` must pass."""
        receiver = self.receivers[tenant]
        if checked and bodies.refuses(*checked):
            self._dropped(tenant, "its body would hold a run of digits longer than a BIN", type_)
            return
        if tx is not None:
            added = self.outbox.add(tenant, type_, build, receiver.queue_size,
                                    receiver.max_body, tx=tx)
        else:
            try:
                added = self.outbox.add(tenant, type_, build, receiver.queue_size,
                                        receiver.max_body)
            except Exception as error:   # the store failed: the call goes on
                self._dropped(tenant, "the store failed (%s)" % type(error).__name__, type_)
                return
        self._after(tenant, type_, added, receiver)

    def _after(self, tenant: str, type_: str, added: Added, receiver: ReceiverSettings) -> None:
        if added.outcome == STORED:
            if self.wake is not None:
                self.wake(tenant)
        elif added.outcome == FULL:
            self._dropped(tenant, "%d rows are pending already (queue_size)" % receiver.queue_size,
                          type_, added.seq)
        elif added.outcome == TOO_LARGE:
            self._dropped(tenant, "its body is %d bytes, over max_body (%d)" % (
                added.size, receiver.max_body), type_, added.seq)

    def _dropped(self, tenant: str, why: str, type_: str, seq: Optional[int] = None) -> None:
        log.warning("status callback %s for %s dropped%s: %s", type_, tenant,
                    "" if seq is None else " (seq %d)" % seq, why)
        if self.metrics is not None:
            self.metrics.outbox_dropped.labels(tenant).inc()

