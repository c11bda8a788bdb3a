"""The running service declines the payment links that expired unpaid, every ``interval`` seconds.

A link nobody paid would otherwise stay ``link_sent`` until someone ran ``orchestrator
reconcile`` or the gateway sent an ``expired`` notice (not every gateway does), and the CRM
would never hear that the invoice is still owed. So one greenlet of ``orchestrator run`` wakes
every ``link_expiry.interval`` seconds and runs ``settle.expire_due``: each link past its expiry
still ``link_sent`` is declined ``link_expired``, its ``payment.result`` status callback written
in the same transaction.

Several instances on one PostgreSQL each sweep, and may find the same links: the decline is
``finish(from_status="link_sent")``, a conditional write, so only one of them writes each
outcome and its callback; the others' writes change nothing and are not counted. A store that
fails (a database restarting) is logged and tried again at the next round; nothing of the
sweep stops the service. The wait between rounds is the stop signal's, so ``stop`` ends the
sweep at once (bounded: a round in progress is given ``STOP_TIMEOUT`` seconds, then killed).
"""
import logging
from typing import Callable, List, Optional

import gevent
import gevent.event

from orchestrator.store import StoreError
from orchestrator.store.journal import PaymentStore
from orchestrator.store.links import PaymentLinks

from .settings import DEFAULT_SWEEP
from .settle import expire_due

log = logging.getLogger(__name__)
STOP_TIMEOUT = 5.0
# links declined in one round at most (the rest wait for the next: a backlog after an outage
# does not hold one store connection for minutes)
BATCH = 500


class LinkExpirySweeper:
    """``on_expired(tenant)`` is told of each link this instance declined (the metric)."""

    def __init__(self, store: PaymentStore, interval: float = DEFAULT_SWEEP,
                 on_expired: Optional[Callable[[str], None]] = None,
                 now: Callable[[], Optional[float]] = lambda: None) -> None:
        self.links = PaymentLinks(store)
        self.interval = interval
        self.on_expired = on_expired
        self._now = now
        self._stopping = gevent.event.Event()
        self._greenlet: Optional[gevent.Greenlet] = None

    def start(self) -> None:
        if self._greenlet is None:
            self._stopping.clear()
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """End the sweep: at once between rounds, within ``STOP_TIMEOUT`` during one."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is None:
            return
        self._stopping.set()
        greenlet.join(timeout=STOP_TIMEOUT)
        if not greenlet.dead:
            log.warning("the payment link sweep did not end in %.0f s; stopped", STOP_TIMEOUT)
            greenlet.kill(block=True, timeout=STOP_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def sweep(self) -> List[str]:
        """One round: the ids of the links this instance declined. StoreError when the store
        fails (what it declined before that stays declined)."""
        declined = expire_due(self.links, self._now(), on_declined=self._declined, limit=BATCH)
        if declined:
            log.info("%d payment link(s) expired unpaid: declined", len(declined))
        return declined

    def _declined(self, payment_id: str, tenant: str) -> None:
        log.info("payment %s: its link expired unpaid: declined", payment_id)
        if self.on_expired is not None:
            self.on_expired(tenant)

    def _run(self) -> None:
        while not self._stopping.wait(timeout=self.interval):
            try:
                self.sweep()
            except StoreError as error:
                log.error("payment link sweep: the store failed (%s); trying again in %.0f s",
                          error, self.interval)
            except Exception:   # a bug must not end the sweep for the life of the process
                log.exception("payment link sweep failed; trying again in %.0f s", self.interval)
