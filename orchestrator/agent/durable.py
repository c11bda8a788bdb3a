"""Agent sessions kept in the store, so that any instance can read what one instance holds.

The registry (``sessions.py``) stays the live copy, in the memory of the instance that holds the
call; this writes each session's latest state to the store's sessions table
(``store/sessions.py``) from a greenlet of its own, never from the call's: a slow or absent
database holds up no caller. Changes are coalesced by session (the latest state is what is
written), so what waits is bounded by the sessions in memory, not by the changes. A write
that fails is tried again after a capped backoff, the session still waiting with its latest
state; the first failure of a run is logged, not every one. ``stop`` writes what is left,
within a bound.
"""
from __future__ import annotations

import logging
import os
import socket
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import gevent
import gevent.event

from orchestrator.backoff import exponential
from orchestrator.payments.money import Money
from orchestrator.store.errors import StoreError
from orchestrator.store.sessions import RecordRefused, SessionRecord, SessionTable

from .sessions import Payload, PaymentSession

log = logging.getLogger(__name__)
RETRY_BASE, RETRY_CAP = 0.5, 10.0


def this_instance() -> str:
    """The name this process writes as the session's holder: host and process id."""
    return "%s:%d" % (socket.gethostname(), os.getpid())


def record_of(session: PaymentSession, instance: str) -> Dict[str, Any]:
    """What the store keeps of ``session``: what the API shows, and where it lives."""
    shown = session.to_json()
    return {"id": shown["id"], "tenant": shown["tenant"], "agent": shown["agent"],
            "call_uuid": shown["call_uuid"], "instance": instance,
            "node": session.node.name if session.node is not None else None,
            "mode": shown["mode"], "flow": shown["flow"], "amount_minor": shown["amount"],
            "currency": shown["currency"], "reference": shown["reference"],
            "state": shown["state"], "fields": shown["fields"], "result": shown["result"],
            "created": shown["created"], "updated": shown["updated"]}


def shown_from(record: SessionRecord) -> Payload:
    """A stored session as the API shows a live one (``PaymentSession.to_json``)."""
    try:
        amount_text = str(Money.parse(record["amount_minor"], record["currency"]))
    except ValueError:
        amount_text = ""
    return {"id": record["id"], "tenant": record["tenant"], "agent": record["agent"],
            "call_uuid": record["call_uuid"], "mode": record["mode"], "flow": record["flow"],
            "amount": record["amount_minor"], "currency": record["currency"],
            "amount_text": amount_text, "reference": record["reference"],
            "state": record["state"], "fields": record["fields"], "result": record["result"],
            "created": record["created"], "updated": record["updated"]}


class SessionRecorder:
    """``changed(session, removed)`` is a registry observer; ``start``/``stop`` the writer."""

    def __init__(self, table: SessionTable, instance: Optional[str] = None) -> None:
        self.table = table
        self.instance = instance or this_instance()
        self._waiting: "OrderedDict[str, Tuple[PaymentSession, bool]]" = OrderedDict()
        self._wake = gevent.event.Event()
        self._writer: Optional[gevent.Greenlet] = None
        self.failures = 0

    def changed(self, session: PaymentSession, removed: bool = False) -> None:
        self._waiting.pop(session.id, None)
        self._waiting[session.id] = (session, removed)
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        if self._writer is None:
            self._writer = gevent.spawn(self._write_forever)

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is waiting (within ``timeout``), then stop the writer."""
        if self._writer is None:
            return
        with gevent.Timeout(timeout, False):
            while self._waiting and self.failures == 0:
                gevent.sleep(0.01)
        self._writer.kill(block=True, timeout=2)
        self._writer = None
        if self._waiting:
            log.warning("%d agent session(s) not written to the store at stop", len(self._waiting))

    def _write_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._waiting:
                session_id, (session, removed) = next(iter(self._waiting.items()))
                del self._waiting[session_id]
                try:
                    if removed:
                        self.table.delete(session_id)
                    else:
                        self.table.save(record_of(session, self.instance))
                except RecordRefused as error:
                    log.error("%s", error)
                    continue
                except StoreError as error:
                    if session_id not in self._waiting:   # a newer change keeps its place
                        self._waiting[session_id] = (session, removed)
                    self.failures += 1
                    if self.failures == 1:
                        log.error("agent sessions not written to the store (tried again until "
                                  "it answers): %s", error)
                    gevent.sleep(exponential(self.failures, RETRY_BASE, RETRY_CAP))
                    continue
                if self.failures:
                    log.warning("agent sessions written to the store again")
                self.failures = 0
