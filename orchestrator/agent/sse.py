"""Server-Sent Events for one session: a snapshot, then every change, then the end.

The stream reads from the session's bounded queue (see ``sessions``), so a browser that
stops reading is dropped rather than slowing the call. A comment line every ``KEEPALIVE``
seconds keeps proxies from closing an idle stream and lets a dead client be noticed; a stream
never lives longer than ``MAX_STREAM_SECONDS`` (EventSource reconnects on its own).
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Iterator, Optional, Protocol

from gevent.queue import Empty

from .sessions import END_OF_STREAM, Payload

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import StartResponse

KEEPALIVE = 15.0
MAX_STREAM_SECONDS = 3600.0


class Watched(Protocol):
    """A session as the stream reads it: this instance's (``PaymentSession``) or another's
    (``remote.RemoteWatch``)."""

    def to_json(self) -> Payload: ...

    def subscribe(self) -> Any: ...

    def unsubscribe(self, queue: Any) -> None: ...


def frame(event: str, payload: Payload, version: Optional[int] = None) -> bytes:
    """One event; ``id:`` is the session's version after it (``PaymentSession.version``), so
    the page can tell an answer older than what the stream already said."""
    head = "id: %d\n" % version if isinstance(version, int) and not isinstance(version, bool) else ""
    return ("%sevent: %s\ndata: %s\n\n" % (head, event, json.dumps(payload, sort_keys=True))).encode("utf-8")


def stream(session: Watched, keepalive: Optional[float] = None,
           max_seconds: Optional[float] = None) -> Iterator[bytes]:
    """A WSGI body (generator of bytes) for ``session``'s events."""
    keepalive = KEEPALIVE if keepalive is None else keepalive
    deadline = time.monotonic() + (MAX_STREAM_SECONDS if max_seconds is None else max_seconds)
    queue = session.subscribe()
    snapshot = session.to_json()     # at the same instant: the queue holds what comes after it

    def body() -> Iterator[bytes]:
        try:
            yield b"retry: 2000\n" + frame("snapshot", snapshot, snapshot.get("version"))
            while time.monotonic() < deadline:
                try:
                    item = queue.get(timeout=min(keepalive, max(0.0, deadline - time.monotonic())))
                except Empty:
                    yield b": keepalive\n\n"
                    continue
                if item is END_OF_STREAM:
                    return
                yield frame(*item)
        finally:
            session.unsubscribe(queue)
    return body()


def start_stream(start_response: "StartResponse") -> None:
    start_response("200 OK", [("Content-Type", "text/event-stream; charset=utf-8"),
                              ("Cache-Control", "no-store"), ("X-Accel-Buffering", "no")])
