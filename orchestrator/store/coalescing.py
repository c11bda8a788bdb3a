"""Writes to the store from a greenlet of their own, the latest change of each key winning.

What the service keeps for other instances to read (agent sessions, the calls an instance
holds) is written off the call's greenlet: a slow or absent database holds up no caller.
Changes are coalesced by key, so what waits is bounded by the keys alive (sessions, calls in
progress), not by the changes made. A write that fails with a StoreError is tried again after
a capped backoff, its key still waiting with its latest change (a newer change keeps its
place); the first failure of a run is logged, not every one, and the recovery once. A change
the store refuses for good (``refused``) is logged and dropped. ``stop`` writes what is left,
within a bound, the write in flight included.
"""
import logging
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Optional, Tuple, Type, TypeVar

import gevent
import gevent.event

from orchestrator.backoff import exponential

from .errors import StoreError

log = logging.getLogger(__name__)
RETRY_BASE, RETRY_CAP = 0.5, 10.0
K = TypeVar("K", bound=Hashable)
C = TypeVar("C")


class CoalescingWriter(Generic[K, C]):
    """``put(key, change)``; ``write(key, change)`` runs in the writer greenlet."""

    def __init__(self, what: str, write: Callable[[K, C], None],
                 refused: Tuple[Type[Exception], ...] = ()) -> None:
        self.what, self._write, self._refused = what, write, refused
        self._waiting: "OrderedDict[K, C]" = OrderedDict()
        self._wake = gevent.event.Event()
        self._writer: Optional[gevent.Greenlet] = None
        self._writing = False           # a change taken off the queue, its write not done
        self.failures = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def put(self, key: K, change: C) -> None:
        self._waiting.pop(key, None)
        self._waiting[key] = change
        self._wake.set()

    def start(self) -> None:
        if self._writer is None:
            self._writer = gevent.spawn(self._write_forever)

    def stop(self, timeout: float) -> None:
        """Write what is waiting (within ``timeout``), then stop the writer."""
        if self._writer is None:
            return
        with gevent.Timeout(timeout, False):
            while (self._waiting or self._writing) and self.failures == 0:
                gevent.sleep(0.01)
        self._writer.kill(block=True, timeout=2)
        self._writer = None
        if self._waiting:
            log.warning("%d %s not written to the store at stop", len(self._waiting), self.what)

    def _write_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._waiting:
                key, change = next(iter(self._waiting.items()))
                del self._waiting[key]
                self._writing = True
                try:
                    self._write(key, change)
                except self._refused as error:
                    log.error("%s", error)
                    continue
                except StoreError as error:
                    if key not in self._waiting:      # a newer change keeps its place
                        self._waiting[key] = change
                    self.failures += 1
                    if self.failures == 1:
                        log.error("%s not written to the store (tried again until it answers): "
                                  "%s", self.what, error)
                    gevent.sleep(exponential(self.failures, RETRY_BASE, RETRY_CAP))
                    continue
                finally:
                    self._writing = False
                if self.failures:
                    log.warning("%s written to the store again", self.what)
                self.failures = 0
