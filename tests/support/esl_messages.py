"""Raw ESL messages as the conformance tests see them, and a bare client that keeps them all.

Deliberately independent of ``orchestrator.esl``: the point is to look at bytes, not at what
the project's own ESL layer makes of them.
"""
import socket as stdsocket
import struct
import time
from urllib.parse import unquote

import gevent
import gevent.event

from orchestrator.esl.transcript import Framer, parse_message

REPLY_TYPES = ("command/reply", "api/response")


class Message:
    """One message from the switch: envelope headers, body, and the event inside if any."""

    def __init__(self, raw):
        self.raw = raw
        self.envelope, self.body = parse_message(raw)
        self.event = []
        self.event_body = ""
        if self.content_type == "text/event-plain":
            head, _, self.event_body = self.body.partition("\n\n")
            for line in head.split("\n"):
                name, sep, value = line.partition(":")
                if sep:
                    self.event.append((name.strip(), unquote(value.strip())))
        elif self.content_type == "text/event-json":
            import json
            data = json.loads(self.body)
            self.event_body = data.pop("_body", "")
            self.event = [(k, str(v)) for k, v in data.items()]
        elif "Event-Name" in dict(self.envelope):   # the connect reply is a serialized event
            self.event = [(k, unquote(v)) for k, v in self.envelope]

    def header(self, name, default=None):
        for key, value in self.envelope:
            if key == name:
                return unquote(value)
        return default

    def get(self, name, default=None):
        """An event header, else an envelope header."""
        for key, value in self.event:
            if key == name:
                return value
        return self.header(name, default)

    @property
    def content_type(self):
        return self.header("Content-Type", "")

    @property
    def is_reply(self):
        return self.content_type in REPLY_TYPES

    @property
    def event_name(self):
        return self.get("Event-Name", "") if self.event else ""

    def __repr__(self):
        return "<%s %s>" % (self.content_type, self.event_name or (self.get("Reply-Text") or
                                                                    self.body)[:50].strip())


class RawClient:
    """Sends commands as given and keeps every message that comes back, in order."""

    def __init__(self, sock):
        self.sock = sock
        self.messages = []
        self.closed = gevent.event.Event()
        self._changed = gevent.event.Event()
        self._framer = Framer()
        self._reader = gevent.spawn(self._read)

    def _read(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for raw in self._framer.feed(data):
                    self.messages.append(Message(raw.decode("utf-8", "replace")))
                    self._changed.set()
        except OSError:
            pass
        self.closed.set()
        self._changed.set()

    def send(self, text):
        self.sock.sendall((text.rstrip("\n") + "\n\n").encode("utf-8"))

    def wait(self, predicate, timeout=10.0, start=0, what="a message"):
        """Index of the first message from ``start`` on that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(start, len(self.messages)):
                if predicate(self.messages[index]):
                    return index
            if self.closed.is_set():
                raise EOFError("connection closed while waiting for %s" % what)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no %s within %.1fs" % (what, timeout))
            self._changed.clear()
            self._changed.wait(min(remaining, 0.2))

    def wait_closed(self, timeout):
        return self.closed.wait(timeout)

    def close(self, abrupt=False):
        if abrupt:  # RST, as when the process dies
            try:
                self.sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._reader.join(timeout=2)
