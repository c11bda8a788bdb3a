"""Asks a database-backed store, now and then, whether it answers.

A store that only learns it is unreachable when a payment tries to write would show a healthy
``/readyz`` through an outage at a quiet hour, and a load balancer would go on sending calls
to an instance that cannot record them. So one greenlet pings the store (a ``SELECT 1``
transaction, with the store's own bounded retries) every ``interval`` seconds, and while it
is down, more often (from a tenth of the interval, doubling up to it, with jitter so that
instances restarting together do not hammer a server coming back). The outcome is the
store's ``health``, which every store call updates too. An embedded SQLite file needs none.
"""
import logging
import random
from typing import Optional

import gevent

from ..backoff import exponential
from .errors import StoreError
from .journal import PaymentStore

log = logging.getLogger(__name__)


class StoreMonitor:
    def __init__(self, store: PaymentStore, interval: float = 5.0) -> None:
        self.store, self.interval = store, interval
        self._greenlet: Optional[gevent.Greenlet] = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._watch)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None

    def _watch(self) -> None:
        failures = 0
        while True:
            if failures:
                gevent.sleep(random.random() * exponential(failures, self.interval / 10,
                                                           cap=self.interval))
            else:
                gevent.sleep(self.interval)
            was_up = self.store.health.up
            try:
                self.store.ping()
            except StoreError as error:
                failures += 1
                if was_up and not self.store.health.up:
                    log.error("payment store unreachable: %s", error)
                continue
            if failures and not was_up:
                log.warning("payment store reachable again")
            failures = 0
