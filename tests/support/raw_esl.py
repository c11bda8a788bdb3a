"""A deliberately small raw ESL client and a stand-in orchestrator listener, so the
simulator is tested against bytes on a socket and not against the project's ESL layer.

``RawESL`` speaks request and reply (``cmd``, ``wait_event``, ``wait_notice``) on either side of
the switch; ``Orchestrator`` listens where a dialplan's ``socket`` connects and hands out each
accepted connection; ``start_session`` does the outbound handshake (connect, myevents, linger).
For keeping every message whole, as the conformance recordings do, see ``esl_messages``."""
from __future__ import annotations

from typing import Callable, List, Optional
from urllib.parse import unquote

import gevent
import gevent.socket as gsocket
from gevent.queue import Queue


class Msg:
    def __init__(self, headers: dict, body: str = ""):
        self.headers = headers
        self.body = body
        self.event: dict = {}
        self.event_body = ""
        ctype = headers.get("Content-Type", "")
        if ctype == "text/event-plain":
            head, _, rest = body.partition("\n\n")
            for line in head.split("\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    self.event[k] = unquote(v)
            self.event_body = rest
        elif ctype == "text/event-json":
            import json
            self.event = json.loads(body)
            self.event_body = self.event.get("_body", "")

    @property
    def type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def name(self) -> str:
        return self.event.get("Event-Name", "")

    @property
    def reply(self) -> str:
        return unquote(self.headers.get("Reply-Text", ""))

    def __repr__(self):
        return f"Msg({self.type}, {self.name or self.reply or self.body[:40]!r})"


class RawESL:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.events: List[Msg] = []
        self.notices: List[Msg] = []
        self.eof = False

    @classmethod
    def connect(cls, address) -> "RawESL":
        return cls(gsocket.create_connection(address, timeout=5))

    def _fill(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, OSError) as exc:
            if isinstance(exc, TimeoutError) or "timed out" in str(exc):
                raise TimeoutError("no data from the switch") from exc
            data = b""
        if not data:
            self.eof = True
            raise EOFError("switch closed the socket")
        self.buf += data

    def read(self, timeout: float = 5.0) -> Msg:
        with gevent.Timeout(timeout, TimeoutError("no complete message in time")):
            while b"\n\n" not in self.buf:
                self._fill(timeout)
            head, self.buf = self.buf.split(b"\n\n", 1)
            headers = {}
            for line in head.decode().split("\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    headers[k] = v
            n = int(headers.get("Content-Length", "0"))
            while len(self.buf) < n:
                self._fill(timeout)
            body, self.buf = self.buf[:n], self.buf[n:]
            return Msg(headers, body.decode())

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n\n")

    def next_reply(self, timeout: float = 5.0) -> Msg:
        """The next command/reply or api/response; events seen meanwhile are kept."""
        while True:
            msg = self.read(timeout)
            if msg.type in ("command/reply", "api/response", "auth/request") and "Event-Name" not in msg.headers:
                return msg
            if msg.type == "command/reply":  # the connect reply is a serialized event
                return msg
            self._keep(msg)

    def _keep(self, msg: Msg) -> None:
        if msg.type.startswith("text/event"):
            self.events.append(msg)
        elif msg.type == "text/disconnect-notice":
            self.notices.append(msg)

    def cmd(self, text: str, timeout: float = 5.0) -> Msg:
        self.send(text)
        return self.next_reply(timeout)

    def wait_event(self, name: str, pred: Callable[[Msg], bool] = lambda m: True, timeout: float = 5.0) -> Msg:
        for msg in self.events:
            if msg.name == name and pred(msg) and not getattr(msg, "_taken", False):
                msg._taken = True
                return msg
        with gevent.Timeout(timeout, TimeoutError(f"no {name} event; saw {[m.name for m in self.events]}")):
            while True:
                msg = self.read(timeout)
                self._keep(msg)
                if msg.name == name and pred(msg):
                    msg._taken = True
                    return msg

    def wait_notice(self, timeout: float = 5.0) -> Msg:
        if self.notices:
            return self.notices.pop(0)
        with gevent.Timeout(timeout, TimeoutError("no disconnect-notice")):
            while True:
                msg = self.read(timeout)
                if msg.type == "text/disconnect-notice":
                    return msg
                self._keep(msg)

    def wait_closed(self, timeout: float = 5.0) -> List[Msg]:
        """Read until EOF; returns what came before it."""
        seen = []
        with gevent.Timeout(timeout, TimeoutError("socket not closed by the switch")):
            while True:
                try:
                    msg = self.read(timeout)
                except EOFError:
                    return seen
                seen.append(msg)
                self._keep(msg)

    def close(self) -> None:
        self.sock.close()


class Orchestrator:
    """Listens like the orchestrator's outbound server; hands out accepted connections."""

    def __init__(self):
        self.server = gsocket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(50)
        self.address = self.server.getsockname()
        self.accepted: Queue = Queue()
        self._g = gevent.spawn(self._loop)

    def _loop(self):
        while True:
            sock, _ = self.server.accept()
            self.accepted.put(RawESL(sock))

    def accept(self, timeout: float = 5.0) -> RawESL:
        return self.accepted.get(timeout=timeout)

    def close(self):
        self._g.kill()
        self.server.close()
        while not self.accepted.empty():
            self.accepted.get().close()


def execute(esl: RawESL, app: str, arg: str = "", event_uuid: Optional[str] = None, lock: bool = False) -> Msg:
    lines = ["sendmsg", "call-command: execute", f"execute-app-name: {app}"]
    if arg:
        lines.append(f"execute-app-arg: {arg}")
    if event_uuid:
        lines.append(f"event-uuid: {event_uuid}")
    if lock:
        lines.append("event-lock: true")
    return esl.cmd("\n".join(lines))


def start_session(orch: Orchestrator, linger: Optional[int] = None) -> RawESL:
    esl = orch.accept()
    reply = esl.cmd("connect")
    assert reply.reply.startswith("+OK")
    assert esl.cmd("myevents").reply == "+OK Events Enabled"
    if linger is not None:
        esl.cmd(f"linger {linger}")
    return esl
