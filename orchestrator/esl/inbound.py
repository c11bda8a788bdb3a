"""Inbound ESL: one authenticated connection per FreeSWITCH node, kept up for api/bgapi.

The outbound socket runs calls; the inbound connections are how the service reaches a node
outside a call (find a channel, transfer it, mask a recording). A node that goes away is
reconnected with capped exponential backoff and full jitter, so a restarted switch is not
hammered by every instance at the same instant. A node's state is a plain attribute that the
readiness probe and the metrics read.

On each connect the node is asked its ``core_uuid`` (``global_getvar``): the Core-UUID that
FreeSWITCH draws at start-up and stamps on every event, a call's socket ``connect`` reply
included. That is how a call on the outbound socket is matched to the inbound connection of
the switch it came from (``InboundPool.node_for_switch``), with nothing to configure in the
dialplan and nothing a copied dialplan could get wrong: two boxes never share one, and a
restarted switch draws a new one (learnt again on reconnect). The last one learnt is kept
while the node is down, so a call from a node whose inbound connection dropped is still
known to be that node's (and the agent is told the node is unavailable, rather than having a
command sent to another switch).

Secure card entry hands keys over through a FIFO in a folder of this host
(docs/secure-entry.md), which a switch on another host cannot open. So each connect also asks
the switch whether it sees that folder: a marker file is made there and the switch is asked
``file_exists`` for it (``sees_secure_entry``; None when not asked: ``secure_fifo_dir`` None,
or the marker could not be made). A node that does
not cannot take card entry from this instance: its calls' card fields fail, no key leaks.
"""
from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from typing import TYPE_CHECKING, Callable, Dict, Iterable, Iterator, Optional

import gevent
import gevent.event
from gevent import socket

from orchestrator.esl.channel import secure_fifo_dir
from orchestrator.esl.commands import SwitchCommands
from orchestrator import backoff
from orchestrator.esl.errors import CommandFailed, CommandTimeout, EslError, NotConnected
from orchestrator.esl.protocol import EslConnection, EslMessage, FrameLimits

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.metrics import Metrics

log = logging.getLogger(__name__)

MAX_UNCLAIMED_JOBS = 1000


def backoff_delays(base: float = 0.5, cap: float = 30.0,
                   rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Delays before reconnect attempts: full jitter over a capped exponential."""
    return backoff.delays(base, cap, jitter=rng)


class NodeConnection:
    """Keeps one inbound connection to one node alive; ``api``/``bgapi`` go through it."""

    def __init__(self, name: str, host: str, port: int, password: str, *,
                 connect_timeout: float = 5.0, reply_timeout: float = 5.0,
                 keepalive: float = 15.0, backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 metrics: Optional["Metrics"] = None,
                 frame_limits: Optional[FrameLimits] = None,
                 secure_fifo_dir: Optional[str] = None) -> None:
        self.name = name
        self.secure_fifo_dir = secure_fifo_dir
        self.sees_secure_entry: Optional[bool] = None   # asked on each connect (module doc)
        self.frame_limits = frame_limits or FrameLimits()
        self.address = (host, port)
        self._password = password
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.keepalive = keepalive
        self._backoff = (backoff_base, backoff_cap)
        self._metrics = metrics
        self._conn: Optional[EslConnection] = None
        self._runner: Optional[gevent.Greenlet] = None
        self._stopping = False
        self._jobs: Dict[str, gevent.event.AsyncResult] = {}
        self.connected = False
        self.core_uuid: Optional[str] = None   # the switch's Core-UUID, learnt on connect
        self.last_error: Optional[str] = None
        self.changed = gevent.event.Event()

    def __repr__(self) -> str:
        return "<NodeConnection %s %s>" % (self.name, "up" if self.connected else "down")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._runner = gevent.spawn(self._keep_connected)

    def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.kill(block=True, timeout=5)
        self._drop()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.connected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            self.changed.wait(remaining)
        return True

    def _keep_connected(self) -> None:
        delays: Optional[Iterator[float]] = None
        while not self._stopping:
            try:
                self._connect_once()
            except (OSError, EslError, gevent.Timeout) as exc:
                self.last_error = "%s: %s" % (type(exc).__name__, exc)
                log.warning("node %s: connect failed (%s)", self.name, self.last_error)
            else:
                delays = None
                self._watch()
                if not self._stopping:
                    self.last_error = "connection lost"   # what /readyz shows while down
                    log.warning("node %s: connection lost", self.name)
            self._drop()
            if self._stopping:
                return
            delays = delays or backoff_delays(*self._backoff)
            gevent.sleep(next(delays))
            if self._metrics:
                self._metrics.esl_reconnects.labels(self.name).inc()

    def _connect_once(self) -> None:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        sock.settimeout(None)
        conn = EslConnection(sock, reply_timeout=self.reply_timeout, name="node %s" % self.name,
                             limits=self.frame_limits,
                             on_limit=self._metrics.limit_counter("limits.esl.") if self._metrics else None)
        self._conn = conn
        conn.add_listener(self._on_message)
        conn.start()
        if not conn._auth_request_event.wait(timeout=self.connect_timeout):
            raise CommandTimeout("no auth/request within %.1fs" % self.connect_timeout)
        if conn.lost.is_set():
            raise NotConnected("node closed the connection before auth")
        reply = conn.send("auth %s" % self._password)
        if reply.reply_text.strip() != "+OK accepted":
            raise CommandFailed("authentication refused (check the node's password)")
        conn.command("event plain BACKGROUND_JOB")
        self._learn_identity(conn)
        self._probe_secure_entry(conn)
        self._set_state(True)
        log.info("node %s: connected to %s:%s", self.name, *self.address)

    def _learn_identity(self, conn: EslConnection) -> None:
        try:
            core_uuid = conn.command("api global_getvar core_uuid").body.strip()
        except CommandFailed:
            core_uuid = ""
        if not core_uuid or "\n" in core_uuid or core_uuid.startswith("-"):
            # calls from this node cannot be matched to it: the agent API refuses them (503)
            log.warning("node %s: the switch gave no core_uuid; its calls cannot be told apart "
                        "from an unknown switch's", self.name)
            return
        if core_uuid != self.core_uuid:
            log.info("node %s: switch Core-UUID %s", self.name, core_uuid)
        self.core_uuid = core_uuid

    def _probe_secure_entry(self, conn: EslConnection) -> None:
        if self.secure_fifo_dir is None:
            return
        folder = self.secure_fifo_dir or "(the default folder)"
        try:
            folder = secure_fifo_dir(self.secure_fifo_dir)
            handle, marker = tempfile.mkstemp(prefix="probe-", dir=folder)
            os.close(handle)
        except OSError as exc:
            log.warning("node %s: cannot make a marker in %s (%s)", self.name, folder, exc.strerror)
            return
        try:
            answer = conn.command("api file_exists %s" % marker).body.strip()
        except CommandFailed:
            answer = ""
        finally:
            os.unlink(marker)
        sees = answer == "true"
        if not sees and self.sees_secure_entry is not False:
            log.warning("node %s: the switch does not see %s (secure_entry.fifo_dir) as this "
                        "host does: card entry on its calls will fail; run an instance on its "
                        "host, or share the folder with it", self.name, folder)
        self.sees_secure_entry = sees
        if self._metrics:
            self._metrics.node_secure_entry.labels(self.name).set(1 if sees else 0)

    def _watch(self) -> None:
        """Sit until the connection drops; a keepalive api call catches a half-open socket."""
        conn = self._conn
        assert conn is not None  # set by _connect_once, which just succeeded
        while not conn.lost.wait(timeout=self.keepalive):
            started = time.monotonic()
            try:
                conn.command("api status")
            except EslError:
                return
            self._observe("api", started)

    def _drop(self) -> None:
        self._set_state(False)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(say_exit=not conn.lost.is_set())
        jobs, self._jobs = self._jobs, {}
        for waiter in jobs.values():
            waiter.set_exception(NotConnected("node %s disconnected" % self.name))

    def _set_state(self, up: bool) -> None:
        if self.connected != up:
            self.connected = up
            self.changed.set()
        if self._metrics:
            self._metrics.esl_up.labels(self.name).set(1 if up else 0)

    def _on_message(self, message: EslMessage) -> None:
        if message.event_name == "BACKGROUND_JOB":
            # The result may be dispatched before bgapi() registers its waiter: whoever comes
            # first creates the slot. Results nobody claims (the waiter timed out) are capped.
            if len(self._jobs) > MAX_UNCLAIMED_JOBS:
                self._jobs.clear()
            job_uuid = message.headers.get("Job-UUID", "")
            self._jobs.setdefault(job_uuid, gevent.event.AsyncResult()).set(message.body)

    # -- commands --------------------------------------------------------------------------
    def _live(self) -> EslConnection:
        conn = self._conn
        if not self.connected or conn is None:
            raise NotConnected("node %s is not connected" % self.name)
        return conn

    def api(self, command: str, timeout: Optional[float] = None) -> str:
        """Run an api command and return its output text; ``-ERR`` raises CommandFailed, as
        on a call's own socket."""
        started = time.monotonic()
        try:
            reply = self._live().command("api %s" % command, timeout=timeout)
        finally:
            self._observe("api", started)
        return reply.body

    @property
    def commands(self) -> SwitchCommands:
        """The engine's ``Switch`` verbs over this node's connection."""
        return SwitchCommands(self.api, node_key=self.name)

    def bgapi(self, command: str, timeout: float = 30.0) -> str:
        """Run a command in the background and wait (bounded) for its BACKGROUND_JOB result."""
        started = time.monotonic()
        conn = self._live()
        reply = conn.command("bgapi %s" % command)
        job_uuid = reply.headers.get("Job-UUID") or reply.reply_text.rpartition(" ")[2].strip()
        waiter = self._jobs.setdefault(job_uuid, gevent.event.AsyncResult())
        try:
            result = waiter.get(timeout=timeout)
        except gevent.Timeout:
            raise CommandTimeout("bgapi job on node %s gave no result within %.1fs"
                                 % (self.name, timeout))
        finally:
            self._jobs.pop(job_uuid, None)
        self._observe("bgapi", started)
        return result

    def _observe(self, kind: str, started: float) -> None:
        if self._metrics:
            self._metrics.esl_command_seconds.labels(self.name, kind).observe(
                time.monotonic() - started)


class InboundPool:
    """Every configured node, by name."""

    def __init__(self, nodes: Iterable[NodeConnection]) -> None:
        self.nodes = {node.name: node for node in nodes}

    def start(self) -> None:
        for node in self.nodes.values():
            node.start()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    def status(self) -> Dict[str, bool]:
        return {name: node.connected for name, node in self.nodes.items()}

    def any_connected(self) -> bool:
        return any(node.connected for node in self.nodes.values())

    def node(self, name: str) -> NodeConnection:
        return self.nodes[name]

    def connected_count(self) -> int:
        return sum(1 for node in self.nodes.values() if node.connected)

    def node_for_switch(self, core_uuid: str) -> Optional[NodeConnection]:
        """The node whose switch has this Core-UUID (what a call's socket ``connect`` carries),
        or None: not one of ours, not learnt yet, or claimed by two nodes (two entries in
        ``nodes`` for one switch: routing would be a guess, so none is chosen)."""
        if not core_uuid:
            return None
        matches = [node for node in self.nodes.values() if node.core_uuid == core_uuid]
        if len(matches) > 1:
            log.error("nodes %s are the same switch (Core-UUID %s); its calls are not routed",
                      ", ".join(node.name for node in matches), core_uuid)
            return None
        return matches[0] if matches else None
