"""Which calls this instance holds, written to the store for the other instances to read.

A call that reaches this instance's outbound socket gets a row in ``calls``
(``store/instances.py``) naming this instance; the row goes when the call ends. Another
instance reads it to send an agent's request for that call here first, and a survivor reads a
dead instance's rows to find its unsettled payments. The rows are written from a greenlet of
their own, never the call's (a slow database holds up no caller), the latest change of each
call winning; a write that fails is tried again after a capped backoff. What is waiting is
bounded by the calls in progress.
"""
import logging
from collections import OrderedDict
from typing import Optional, Tuple

import gevent
import gevent.event

from orchestrator.backoff import exponential
from orchestrator.store.errors import StoreError
from orchestrator.store.instances import InstanceTable

log = logging.getLogger(__name__)
RETRY_BASE, RETRY_CAP = 0.5, 10.0


class CallBook:
    def __init__(self, table: InstanceTable, instance: str) -> None:
        self.table, self.instance = table, instance
        self._waiting: "OrderedDict[str, Tuple[str, Optional[str]]]" = OrderedDict()
        self._wake = gevent.event.Event()
        self._writer: Optional[gevent.Greenlet] = None
        self.failures = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def arrived(self, call_uuid: str, tenant: str) -> None:
        self._change(call_uuid, ("arrived", tenant))

    def ended(self, call_uuid: str) -> None:
        self._change(call_uuid, ("ended", None))

    def _change(self, call_uuid: str, change: Tuple[str, Optional[str]]) -> None:
        self._waiting.pop(call_uuid, None)
        self._waiting[call_uuid] = change
        self._wake.set()

    def start(self) -> None:
        if self._writer is None:
            self._writer = gevent.spawn(self._write_forever)

    def stop(self, timeout: float = 3.0) -> None:
        if self._writer is None:
            return
        with gevent.Timeout(timeout, False):
            while self._waiting and self.failures == 0:
                gevent.sleep(0.01)
        self._writer.kill(block=True, timeout=2)
        self._writer = None

    def _write_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._waiting:
                call_uuid, (what, tenant) = next(iter(self._waiting.items()))
                del self._waiting[call_uuid]
                try:
                    if what == "arrived":
                        self.table.call_arrived(call_uuid, self.instance, tenant or "")
                    else:
                        self.table.call_ended(call_uuid, self.instance)
                except StoreError as error:
                    if call_uuid not in self._waiting:
                        self._waiting[call_uuid] = (what, tenant)
                    self.failures += 1
                    if self.failures == 1:
                        log.error("calls not written to the store (tried again): %s", error)
                    gevent.sleep(exponential(self.failures, RETRY_BASE, RETRY_CAP))
                    continue
                self.failures = 0
