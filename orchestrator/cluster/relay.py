"""Requests, replies and session changes between instances, over PostgreSQL NOTIFY.

Each instance listens on its own channel (``wire.inbox_of(name)``, ``listener.py``). To ask
another instance, ``ask`` sends a message with an id and this instance's channel, and waits
for the reply with that id, at most ``timeout`` seconds: no answer is ``Unanswered`` (the API
says 504), a message that cannot be sent is ``Unsent`` (503), one too large for a notification
``wire.TooLarge``. A request that comes in is served on a greenlet of its own by ``serve``
(``message -> (status, body)``), and its answer sent back to the asker's channel.

Session changes go the other way, to those who asked to watch: ``push`` queues them, and one
greenlet sends them in the order they were queued (a bounded queue: a store that cannot keep
up drops changes, logged and counted, rather than holding up a call). A watcher on this side
is a bounded queue that ``event`` messages fill; ``end`` (or the holder found dead) closes it.

Nothing here knows what a request means; ``agent/remote.py`` does.
"""
import logging
import re
import secrets
from typing import Any, Callable, Dict, Optional, Tuple

import gevent
import gevent.event
from gevent.queue import Full, Queue

from orchestrator.store.backend import Backend
from orchestrator.store.errors import StoreError

from . import wire

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 5.0
PUSH_QUEUE = 1000            # session changes waiting to be sent to watchers
WATCH_QUEUE = 200            # changes a watcher on this side may fall behind
_INBOX = re.compile(r"^payivr_[0-9a-f]{24}$")
Served = Tuple[int, Any]     # (HTTP status, JSON body)
END = object()               # closes a watcher's queue


class Unanswered(Exception):
    """The instance asked did not answer within the timeout."""


class Unsent(Exception):
    """The message could not be sent (the store did not take it)."""


class Relay:
    """``Relay(backend, instance, metrics=None, timeout=...)``; ``serve`` is set before
    ``deliver`` is handed to a listener."""

    def __init__(self, backend: Backend, instance: str, metrics: Any = None,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        self.backend, self.instance, self.metrics, self.timeout = backend, instance, metrics, timeout
        self.inbox = wire.inbox_of(instance)
        self.serve: Callable[[wire.Message], Served] = lambda message: (503, {})
        self._waiting: Dict[str, gevent.event.AsyncResult] = {}
        self._watchers: Dict[str, Tuple[str, Queue]] = {}      # watch id -> (instance, queue)
        self._pushes: Queue = Queue(maxsize=PUSH_QUEUE)
        self._pusher: Optional[gevent.Greenlet] = None

    def start(self) -> None:
        if self._pusher is None:
            self._pusher = gevent.spawn(self._push_forever)

    def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.kill(block=True, timeout=2)
            self._pusher = None
        for result in list(self._waiting.values()):
            result.set_exception(Unanswered("this instance is stopping"))
        for instance in {owner for owner, _ in self._watchers.values()}:
            self.instance_gone(instance)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.relay_requests.labels(outcome).inc()

    # -- sending ---------------------------------------------------------------------------
    def send(self, channel: str, message: wire.Message) -> None:
        """One notification now (TooLarge before anything is sent; Unsent when the store
        does not take it)."""
        text = wire.encode(message)
        try:
            self.backend.run(lambda tx: tx.execute("SELECT pg_notify(?, ?)", (channel, text)))
        except StoreError as error:
            raise Unsent(str(error)) from None

    def ask(self, instance: str, message: wire.Message,
            timeout: Optional[float] = None) -> wire.Message:
        """Send ``message`` to ``instance`` and return its reply (``status``, ``body``)."""
        request_id = secrets.token_hex(8)
        message = dict(message, id=request_id, reply_to=self.inbox)
        result = gevent.event.AsyncResult()
        self._waiting[request_id] = result
        try:
            try:
                self.send(wire.inbox_of(instance), message)
            except wire.TooLarge:
                self._count("too_large")
                raise
            except Unsent:
                self._count("unsent")
                raise
            try:
                reply = result.get(timeout=self.timeout if timeout is None else timeout)
            except gevent.Timeout:
                self._count("timed_out")
                raise Unanswered("%s did not answer within %.1fs"
                                 % (instance, self.timeout if timeout is None else timeout))
            self._count("answered")
            return reply
        finally:
            self._waiting.pop(request_id, None)

    def push(self, channel: str, message: wire.Message) -> None:
        """Queue a session change for a watcher on another instance; never blocks."""
        try:
            self._pushes.put_nowait((channel, message))
        except Full:
            log.warning("relay: %d session changes waiting to be sent; one dropped", PUSH_QUEUE)
            if self.metrics is not None:
                self.metrics.relay_pushes_dropped.inc()

    def _push_forever(self) -> None:
        while True:
            channel, message = self._pushes.get()
            try:
                self.send(channel, message)
            except (Unsent, wire.TooLarge) as error:
                log.warning("relay: a session change was not sent: %s", error)
                if self.metrics is not None:
                    self.metrics.relay_pushes_dropped.inc()

    # -- watching another instance's session -------------------------------------------------
    def open_watch(self, instance: str) -> Tuple[str, Queue]:
        """A watch id and the queue its changes will fill (register before asking)."""
        watch_id = secrets.token_hex(8)
        queue: Queue = Queue(maxsize=WATCH_QUEUE)
        self._watchers[watch_id] = (instance, queue)
        return watch_id, queue

    def close_watch(self, watch_id: str) -> None:
        self._watchers.pop(watch_id, None)

    def instance_gone(self, instance: str) -> None:
        """``instance`` is dead or stopped: its watchers here end (EventSource reconnects)."""
        for watch_id, (owner, queue) in list(self._watchers.items()):
            if owner == instance:
                self._watchers.pop(watch_id, None)
                _offer(queue, END)

    # -- receiving -------------------------------------------------------------------------
    def deliver(self, payload: str) -> None:
        """The listener's handler: one notification on this instance's channel."""
        try:
            message = wire.decode(payload)
        except wire.Malformed as error:
            log.warning("relay: a notification was refused: %s", error)
            return
        kind = message["kind"]
        if kind == "reply":
            result = self._waiting.get(str(message.get("id")))
            if result is not None and not result.ready():
                result.set(message)
        elif kind in ("event", "end"):
            watcher = self._watchers.get(str(message.get("watch")))
            if watcher is None:
                return
            if kind == "end":
                self._watchers.pop(str(message.get("watch")), None)
                _offer(watcher[1], END)
            elif not _offer(watcher[1], (message.get("event"), message.get("payload"),
                                         message.get("version"))):
                self._watchers.pop(str(message.get("watch")), None)
                log.warning("relay: a watcher fell %d changes behind and was dropped", WATCH_QUEUE)
        else:
            gevent.spawn(self._answer, message)

    def _answer(self, message: wire.Message) -> None:
        reply_to = str(message.get("reply_to", ""))
        if not _INBOX.match(reply_to):
            log.warning("relay: a request with no channel to answer on was refused")
            return
        try:
            status, body = self.serve(message)
        except Exception:
            log.exception("relay: a forwarded request failed")
            status, body = 500, {"error": "internal_error", "message": "the instance holding "
                                 "the call failed to answer"}
        reply = {"kind": "reply", "id": message.get("id"), "status": status, "body": body}
        try:
            try:
                self.send(reply_to, reply)
            except wire.TooLarge as error:
                self.send(reply_to, dict(reply, status=502, body={
                    "error": "reply_too_large", "message": str(error)}))
        except Unsent as error:
            log.warning("relay: a reply was not sent (the asker times out): %s", error)


def _offer(queue: Queue, item: Any) -> bool:
    try:
        queue.put_nowait(item)
        return True
    except Full:
        return False
