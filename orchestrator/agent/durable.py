"""Agent sessions kept in the store, so that any instance can read what one instance holds.

The registry (``sessions.py``) stays the live copy, in the memory of the instance that holds the
call; this writes each session's latest state to the store's sessions table
(``store/sessions.py``) from a greenlet of its own, never from the call's: a slow or absent
database holds up no caller. Changes are coalesced by session (the latest state is what is
written), so what waits is bounded by the sessions in memory, not by the changes. A write
that fails is tried again after a capped backoff, the session still waiting with its latest
state; the first failure of a run is logged, not every one. ``stop`` writes what is left,
within a bound (``store/coalescing.py`` does the writing).
"""
from __future__ import annotations

import os
import socket
from typing import Any, Dict, Optional, Tuple

from orchestrator.payments.money import Money
from orchestrator.store.coalescing import CoalescingWriter
from orchestrator.store.sessions import RecordRefused, SessionRecord, SessionTable

from .sessions import Payload, PaymentSession



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
        self._writer: CoalescingWriter[str, Tuple[PaymentSession, bool]] = CoalescingWriter(
            "agent sessions", self._write, refused=(RecordRefused,))

    def changed(self, session: PaymentSession, removed: bool = False) -> None:
        self._writer.put(session.id, (session, removed))

    @property
    def waiting(self) -> int:
        return self._writer.waiting

    @property
    def failures(self) -> int:
        return self._writer.failures

    def start(self) -> None:
        self._writer.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is waiting (within ``timeout``), then stop the writer."""
        self._writer.stop(timeout)

    def _write(self, session_id: str, change: Tuple[PaymentSession, bool]) -> None:
        session, removed = change
        if removed:
            self.table.delete(session_id)
        else:
            self.table.save(record_of(session, self.instance))
