"""A transparent TCP proxy that writes an Event Socket conversation to a transcript.

It sits on loopback between the two ends of an ESL connection and forwards every byte as it
comes, so neither end can tell it is there; beside the forwarding it cuts each direction into
whole messages and writes them (every keyed digit masked, see ``transcript``) with the time
they passed.

It works for both directions of use:

* outbound: FreeSWITCH's ``socket`` application dials the proxy, which dials the orchestrator;
* inbound: a client dials the proxy, which dials the switch's port 8021.

Which end is the switch is told by what it says first (``auth/request`` comes only from a
switch), or fixed with ``mode``. It exists to pin the simulator to the real switch: the golden
transcripts under ``tests/conformance/golden`` were recorded with it.
"""
from __future__ import annotations

import datetime
import json
import logging
import time
from typing import Any, Dict, Iterable, Mapping, Optional, Set, Tuple, Union

import gevent
import gevent.lock
from gevent import socket
from gevent.server import StreamServer

from orchestrator.esl.transcript import Conversation, Framer, Masker

log = logging.getLogger(__name__)

Address = Tuple[str, int]
Roles = Dict[str, Optional[str]]   # {"accepted": "switch" | "client" | None (not known yet)}

CONNECT_TIMEOUT = 5.0
DRAIN_SECONDS = 5.0   # after one end closes, how long the other may still finish sending


def parse_address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("address must be HOST:PORT, got %r" % text)
    return host.strip("[]") or "127.0.0.1", int(port)


class TranscriptWriter:
    """Appends records to a JSON Lines file; one writer for all connections of a recorder."""

    def __init__(self, path: str, masked_variables: Iterable[str] = (),
                 meta: Optional[Mapping[str, Any]] = None) -> None:
        self._handle = open(path, "w", encoding="utf-8")
        self._lock = gevent.lock.Semaphore()
        self._masker = Masker(masked_variables)
        self._conversations: Dict[int, Conversation] = {}
        self._started = time.monotonic()
        self.write({"dir": "meta", "conn": 0, "format": "esl-transcript/1",
                    "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                    **(meta or {})})

    def elapsed(self) -> float:
        return round(time.monotonic() - self._started, 4)

    def write(self, record: Mapping[str, Any]) -> None:
        """A record of any kind; its ``raw`` and ``text`` are masked as one message each."""
        record = dict(record)
        for key in ("raw", "text"):
            if key in record:
                record[key] = self._masker.mask(record[key])
        self._write(record)

    def _write(self, record: Mapping[str, Any]) -> None:
        record = {"t": self.elapsed(), **record}
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            if not self._handle.closed:
                self._handle.write(line + "\n")
                self._handle.flush()

    def message(self, conn: int, direction: str, raw: str, partial: bool = False) -> None:
        """One whole message of connection ``conn``, ``c2s`` or ``s2c``, masked in the light of
        what that connection said before (a reply is masked like the command it answers)."""
        conversation = self._conversations.setdefault(conn, Conversation(self._masker))
        record: Dict[str, Any] = {"conn": conn, "dir": direction,
                                  "raw": conversation.mask(raw, from_switch=direction == "s2c")}
        if partial:
            record["partial"] = True
        self._write(record)

    def note(self, text: str) -> None:
        """A remark from whoever drives the call (a key pressed, a hangup), kept in order."""
        self.write({"conn": 0, "dir": "note", "text": text})

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class EslRecorder:
    """Listens on ``listen`` and relays every connection to ``forward``, recording both ways."""

    def __init__(self, listen: Address, forward: Address, out: Union[str, TranscriptWriter], *,
                 mode: str = "auto", masked_variables: Iterable[str] = ()) -> None:
        if mode not in ("auto", "inbound", "outbound"):
            raise ValueError("mode must be auto, inbound or outbound")
        self.listen = listen
        self.forward = forward
        self.mode = mode
        self.writer = out if isinstance(out, TranscriptWriter) else TranscriptWriter(
            out, masked_variables, meta={"listen": "%s:%s" % listen,
                                         "forward": "%s:%s" % forward, "mode": mode})
        self._server: Optional[StreamServer] = None
        self._connections = 0
        self._sockets: Set[Any] = set()

    @property
    def address(self) -> Optional[Address]:
        return self._server.address if self._server else None

    def start(self) -> "EslRecorder":
        self._server = StreamServer(self.listen, self._relay)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=DRAIN_SECONDS)
        for sock in list(self._sockets):
            _close(sock)
        self.writer.close()

    def note(self, text: str) -> None:
        self.writer.note(text)

    def _relay(self, accepted: Any, peer: Tuple[Any, ...]) -> None:
        self._connections += 1
        conn = self._connections
        try:
            upstream = socket.create_connection(self.forward, timeout=CONNECT_TIMEOUT)
            upstream.settimeout(None)
        except OSError as exc:
            self.writer.write({"conn": conn, "dir": "open", "peer": "%s:%s" % peer[:2],
                               "error": "forward failed: %s" % exc.strerror})
            _close(accepted)
            return
        self._sockets.update((accepted, upstream))
        self.writer.write({"conn": conn, "dir": "open", "peer": "%s:%s" % peer[:2]})
        # accepted side -> upstream side, and back; who is the switch is settled on first words
        roles: Roles = {"accepted": None}
        if self.mode != "auto":
            roles["accepted"] = "switch" if self.mode == "outbound" else "client"
        pumps = [gevent.spawn(self._pump, conn, accepted, upstream, "accepted", roles),
                 gevent.spawn(self._pump, conn, upstream, accepted, "upstream", roles)]
        gevent.joinall(pumps)
        self._sockets.difference_update((accepted, upstream))

    def _pump(self, conn: int, source: Any, sink: Any, side: str, roles: Roles) -> None:
        framer = Framer()
        how = "eof"
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                # recorded before it is passed on, so a command is always written before the
                # reply to it can exist (the masking of a reply depends on its command)
                for raw in framer.feed(data):
                    self._record(conn, side, roles, raw.decode("utf-8", "replace"))
                sink.sendall(data)
        except OSError as exc:
            how = "reset" if getattr(exc, "errno", None) else "error"
        rest = framer.rest()
        if rest:
            self._record(conn, side, roles, rest.decode("utf-8", "replace"), partial=True)
        sender = self._sender(side, roles) or side
        self.writer.write({"conn": conn, "dir": "close", "by": sender, "how": how})
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # the other end gets a moment to finish what it is sending, then both go
        gevent.spawn_later(DRAIN_SECONDS, _close, source)
        gevent.spawn_later(DRAIN_SECONDS, _close, sink)

    @staticmethod
    def _sender(side: str, roles: Roles) -> Optional[str]:
        if roles["accepted"] is None:
            return None
        if side == "accepted":
            return roles["accepted"]
        return "client" if roles["accepted"] == "switch" else "switch"

    def _record(self, conn: int, side: str, roles: Roles, raw: str, partial: bool = False) -> None:
        if roles["accepted"] is None:
            speaks_first_is_switch = raw.lstrip().startswith("Content-Type: auth/request")
            sender_is_switch = speaks_first_is_switch
            if side == "accepted":
                roles["accepted"] = "switch" if sender_is_switch else "client"
            else:
                roles["accepted"] = "client" if sender_is_switch else "switch"
        sender = self._sender(side, roles)
        self.writer.message(conn, "s2c" if sender == "switch" else "c2s", raw, partial)


def _close(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass


def run_recorder(listen: Address, forward: Address, out: str, stop_event: Any, mode: str = "auto",
                 masked_variables: Iterable[str] = ()) -> int:
    """Record until ``stop_event`` is set (the CLI sets it on SIGINT/SIGTERM)."""
    recorder = EslRecorder(listen, forward, out, mode=mode, masked_variables=masked_variables)
    recorder.start()
    log.info("recording ESL %s:%s -> %s:%s into %s", *listen, *forward, out)
    try:
        stop_event.wait()
    finally:
        recorder.stop()
    return 0
