"""The server FreeSWITCH's ``socket <addr> async full`` connects to, once per call.

Each call gets its own greenlet, at most ``max_calls`` at once. A call beyond that is closed
at once, before ``connect``: the ``socket`` application then returns and the dialplan's
fallback (an agent, a queue) takes the caller, which beats making them wait for a slot.
Setting up is prompt (FreeSWITCH drops a socket that says nothing for 25 seconds) and bounded.
The listener has no authentication (FreeSWITCH's outbound socket offers none), so whatever
connects is held to the same bounds as a call: a place among ``max_calls`` from the moment it
is accepted, ``reply_timeout`` to answer ``connect``, and the frame limits of
``FrameLimits`` on everything it sends.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Set, Tuple

import gevent
from gevent.server import StreamServer

from orchestrator.esl.channel import Channel, ChannelSettings
from orchestrator.esl.errors import CallGone, EslError
from orchestrator.esl.protocol import EslConnection, FrameLimits

# What ``myevents`` subscribes an outbound socket to (mod_event_socket.c, 1.10.12) that a call
# never reads: the Channel waits on application completions, keys and hang-ups only, and takes
# channel variables from those events (every CHANNEL_* event carries them all). CHANNEL_EXECUTE
# alone is about a third of a paid call's events and bytes, each with every variable; the
# answer and CHANNEL_HANGUP_COMPLETE are two more of a paid call's nine (the answer
# application's completion says the call is answered, CHANNEL_HANGUP that it is gone). Kept:
# CHANNEL_EXECUTE_COMPLETE, DTMF, CHANNEL_HANGUP, CHANNEL_BRIDGE, CHANNEL_UNBRIDGE and
# CHANNEL_UUID. ``nixevent`` after ``myevents`` drops the rest on a real 1.10.12
# (tests/conformance/golden/outbound_narrow_events.jsonl).
UNREAD_EVENTS = ("CHANNEL_EXECUTE", "CHANNEL_STATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
                 "CHANNEL_APPLICATION", "CHANNEL_DATA", "CHANNEL_CREATE", "CHANNEL_DESTROY",
                 "CHANNEL_ORIGINATE", "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_UNPARK",
                 "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE",
                 "DETECTED_SPEECH", "TALK", "NOTALK")

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.metrics import Metrics

log = logging.getLogger(__name__)


class OutboundServer:
    def __init__(self, handler: Callable[[Channel], None], *, host: str = "127.0.0.1",
                 port: int = 0, max_calls: int = 100, linger_seconds: int = 10,
                 reply_timeout: float = 5.0, channel_settings: Optional[ChannelSettings] = None,
                 metrics: Optional["Metrics"] = None,
                 frame_limits: Optional[FrameLimits] = None) -> None:
        """``handler(channel)`` runs a call's flow; when it returns, the socket is closed."""
        self._handler = handler
        self._bind = (host, port)
        self.max_calls = max_calls
        self.linger_seconds = linger_seconds
        self.reply_timeout = reply_timeout
        self.channel_settings = channel_settings or ChannelSettings()
        self._metrics = metrics
        self.frame_limits = frame_limits or FrameLimits()
        self._server: Optional[StreamServer] = None
        self._calls: Set[gevent.Greenlet] = set()
        self._draining = False

    @property
    def address(self) -> Optional[Tuple[str, int]]:
        return self._server.address if self._server else None

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.started and not self._draining

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def backlog(self) -> int:
        """Connections the kernel may hold for us before we accept them: one for each call
        we could take (the kernel caps it at net.core.somaxconn). gevent's default, 128, let
        a burst of calls arriving while the service was busy find the queue full: the switch
        retries the connection a second later, then again, and 250 of 10,000 calls dialled
        at once gave up and reached the dialplan's fallback."""
        return max(128, self.max_calls)

    def start(self) -> None:
        self._server = StreamServer(self._bind, self._accept, backlog=self.backlog)
        self._server.start()
        log.info("outbound ESL server listening on %s:%s (max_calls=%d)",
                 self._server.address[0], self._server.address[1], self.max_calls)

    def stop(self, grace: float = 30.0) -> None:
        """Stop taking calls, let calls in progress finish for ``grace`` seconds, then cut them."""
        self._draining = True
        if self._server is not None:
            self._server.close()
        running = list(self._calls)
        if running:
            log.info("waiting up to %.0fs for %d call(s) in progress", grace, len(running))
            gevent.joinall(running, timeout=grace)
        leftover = list(self._calls)
        if leftover:
            log.warning("ending %d call(s) still running after %.0fs", len(leftover), grace)
            gevent.killall(leftover, block=True, timeout=5)

    def _accept(self, sock: Any, peer: Tuple[Any, ...]) -> None:
        if self._draining or len(self._calls) >= self.max_calls:
            self._refuse(sock)
            return
        me = gevent.getcurrent()
        self._calls.add(me)
        if self._metrics:
            self._metrics.calls_in_progress.inc()
        try:
            self._serve(sock, "%s:%s" % peer[:2])
        finally:
            self._calls.discard(me)
            if self._metrics:
                self._metrics.calls_in_progress.dec()

    def _refuse(self, sock: Any) -> None:
        why = "shutting down" if self._draining else "max_calls=%d reached" % self.max_calls
        log.warning("call refused (%s): socket closed at once, the dialplan fallback takes it", why)
        if self._metrics:
            self._metrics.calls_refused.labels("shutting-down" if self._draining else "pool-full").inc()
        sock.close()

    def _serve(self, sock: Any, peer: str) -> None:
        conn = EslConnection(sock, reply_timeout=self.reply_timeout, name=peer,
                             limits=self.frame_limits, inline=True,
                             on_limit=self._metrics.limit_counter("limits.esl.") if self._metrics else None)
        conn.start()
        try:
            reply = conn.command("connect")
            channel = Channel(conn, reply.headers, self.channel_settings)
            # one write for the subscription and the linger (EslConnection.commands)
            conn.commands(["myevents", "nixevent " + " ".join(UNREAD_EVENTS)]
                          + (["linger %d" % self.linger_seconds] if self.linger_seconds else []))
            self._handler(channel)
        except CallGone:
            log.info("call ended before its flow could start")
        except EslError as exc:
            log.warning("call setup failed: %s", exc)
        except Exception:
            log.exception("call handler failed")
        finally:
            conn.close()
