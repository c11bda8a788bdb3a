"""One PostgreSQL connection of its own, listening on this instance's channel.

pg8000 reads notifications only while it reads a query's answer: they arrive on the socket
and are kept by the connection (``notifications``) when the next statement's reply is read.
So the listener waits, cooperatively, for the socket to become readable (``wait_read``: a
greenlet parked on the gevent hub, no thread, no spinning), then runs ``SELECT 1`` to make
the driver read what came, and hands each notification on. The wait is bounded (``poll``,
one second): a notification that arrived in the same read as an earlier reply sits in the
driver's buffer, not on the socket, and the next round picks it up; the round trip doubles as
a check that the connection is alive. One ``SELECT 1`` a second per instance is the whole cost.

The connection is this greenlet's alone (no other greenlet reads its socket). When it is lost
(the database restarted, the network cut) it is made again after a capped backoff and LISTEN
sent again; a notification sent while it was away is lost, which the relay's requesters see as
a timeout (never as a wrong answer). ``deliver(payload)`` must not block.
"""
import collections
import logging
import socket
from typing import Any, Callable, Optional

import gevent
import gevent.event
from gevent.socket import wait_read

from orchestrator.backoff import exponential

log = logging.getLogger(__name__)
POLL = 1.0
RETRY_BASE, RETRY_CAP = 0.2, 5.0


class NotificationListener:
    """``connect()`` -> a pg8000 native connection (the store's settings); ``channel`` a plain
    identifier (``wire.inbox_of``); ``on_state(listening)`` hears each change (metrics)."""

    def __init__(self, connect: Callable[[], Any], channel: str, deliver: Callable[[str], None],
                 poll: float = POLL, on_state: Optional[Callable[[bool], None]] = None) -> None:
        if not channel.replace("_", "").isalnum():
            raise ValueError("a channel must be a plain identifier")
        self.connect, self.channel, self.deliver, self.poll = connect, channel, deliver, poll
        self.on_state = on_state
        self.listening = gevent.event.Event()
        self.failures = 0
        self._greenlet: Optional[gevent.Greenlet] = None
        self._con: Any = None

    def start(self) -> "NotificationListener":
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None
        self._close()
        self._set(False)

    def _set(self, listening: bool) -> None:
        if listening == self.listening.is_set():
            return
        if listening:
            self.listening.set()
        else:
            self.listening.clear()
        if self.on_state is not None:
            try:
                self.on_state(listening)
            except Exception:
                log.exception("listener state observer failed")

    def _close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except Exception:
                pass

    def _run(self) -> None:
        while True:
            try:
                self._con = self.connect()
                self._con.notifications = collections.deque()   # drained after every read
                self._con.run('LISTEN "%s"' % self.channel)
                if self.failures:
                    log.warning("relay listening on %s again", self.channel)
                self.failures = 0
                self._set(True)
                self._wait_forever(self._con)
            except gevent.GreenletExit:
                raise
            except Exception as error:   # the driver's, the socket's, the store's
                self._set(False)
                self._close()
                self.failures += 1
                if self.failures == 1:
                    log.error("relay: the listening connection failed (made again until it "
                              "works): %s", type(error).__name__)
                gevent.sleep(exponential(self.failures, RETRY_BASE, RETRY_CAP))

    def _wait_forever(self, con: Any) -> None:
        fileno = con._usock.fileno()
        while True:
            try:
                wait_read(fileno, timeout=self.poll)
            except socket.timeout:
                pass
            con.run("SELECT 1")
            while con.notifications:
                _, channel, payload = con.notifications.popleft()
                if channel == self.channel:
                    try:
                        self.deliver(payload)
                    except Exception:
                        log.exception("relay: a notification could not be handled")
