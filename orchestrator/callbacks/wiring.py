"""The status callbacks put together for a service, or for ``orchestrator reconcile``.

``StatusCallbacks`` is what the service holds: the outbox on its store, the writer subscribed
to its payment events and hooked to its journal, the sender with a lane per tenant, and the
outbox's pending rows exported as metrics. The agent hub adds ``writer.on_session_change`` to
its session registry, so session notices ride the same outbox to the same receivers.

``reconcile`` runs in a process of its own that sends nothing: ``hook_outcomes`` gives its
store the writer alone, and a running service's sender delivers what it stored.
"""
from typing import Any, Mapping, Optional

from orchestrator.store import PaymentStore

from .outbox import Outbox
from .sender import POLL_INTERVAL, OutboxSender
from .settings import receivers_of
from .writer import OutboxWriter


def hook_outcomes(store: PaymentStore, receivers: Mapping[str, Mapping[str, Any]],
                  metrics: Any = None) -> Optional[OutboxWriter]:
    """A writer of ``store``'s outcomes to its outbox (None when no tenant has a receiver)."""
    settings = receivers_of(receivers)
    if not settings:
        return None
    writer = OutboxWriter(Outbox(store.backend), settings, metrics)
    store.outcome_hooks.append(writer.on_outcome)
    return writer


class StatusCallbacks:
    def __init__(self, store: PaymentStore, receivers: Mapping[str, Mapping[str, Any]],
                 events: Any, metrics: Any = None, poll_interval: Optional[float] = None,
                 instance: Optional[str] = None) -> None:
        self.receivers = receivers_of(receivers)
        self.outbox = Outbox(store.backend)
        self.sender = OutboxSender(self.outbox, self.receivers, metrics, instance=instance,
                                   poll_interval=poll_interval or POLL_INTERVAL)
        # a lane told of a row written inside a transaction looks once this greenlet yields
        # (for SQLite, after the commit; for PostgreSQL perhaps before: then at its next poll)
        self.writer = OutboxWriter(self.outbox, self.receivers, metrics, wake=self.sender.wake)
        store.outcome_hooks.append(self.writer.on_outcome)
        events.subscribe(self.writer.on_payment_event)
        if metrics is not None:
            metrics.watch_outbox(self.outbox, list(self.receivers))

    def start(self) -> None:
        self.sender.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.sender.stop(timeout)
