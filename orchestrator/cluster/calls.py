"""Which calls this instance holds, written to the store for the other instances to read.

A call that reaches this instance's outbound socket gets a row in ``calls``
(``store/instances.py``) naming this instance; the row goes when the call ends. Another
instance reads it to send an agent's request for that call here first, and a survivor reads a
dead instance's rows to find its unsettled payments. The rows are written from a greenlet of
their own, never the call's (a slow database holds up no caller), the latest change of each
call winning; a write that fails is tried again after a capped backoff. What is waiting is
bounded by the calls in progress.
"""
from typing import Optional, Tuple

from orchestrator.store.coalescing import CoalescingWriter
from orchestrator.store.instances import InstanceTable

Change = Tuple[str, Optional[str]]      # ("arrived", tenant) or ("ended", None)


class CallBook:
    def __init__(self, table: InstanceTable, instance: str) -> None:
        self.table, self.instance = table, instance
        self._writer: CoalescingWriter[str, Change] = CoalescingWriter("calls", self._write)

    @property
    def waiting(self) -> int:
        return self._writer.waiting

    @property
    def failures(self) -> int:
        return self._writer.failures

    def arrived(self, call_uuid: str, tenant: str) -> None:
        self._writer.put(call_uuid, ("arrived", tenant))

    def ended(self, call_uuid: str) -> None:
        self._writer.put(call_uuid, ("ended", None))

    def start(self) -> None:
        self._writer.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._writer.stop(timeout)

    def _write(self, call_uuid: str, change: Change) -> None:
        what, tenant = change
        if what == "arrived":
            self.table.call_arrived(call_uuid, self.instance, tenant or "")
        else:
            self.table.call_ended(call_uuid, self.instance)
