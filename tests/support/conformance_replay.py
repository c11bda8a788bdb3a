"""Replay the client side of a golden transcript against the simulator, and reduce both
conversations to what must agree.

The replay sends the golden's client messages in order, with the simulator's channel uuid in
place of the real one, and performs the caller's actions noted in the golden (``press 5``,
``caller-hangup``, ``client-abort``). Before each of them it waits (bounded) for the switch's
messages the client had seen at that point in the golden: the replies, the completions of the
applications it waited for, the DTMF events, the notices. So causality is kept while the
simulator runs at its own speed.

The card-entry script (docs/secure-entry.md) writes its line to a FIFO, off the wire: for a
``lua <script> read <fifo> ...`` execute the replay makes a FIFO of its own and opens it before
sending, with its own copy of the script's path in place of the recording's; a ``fifo-line``
note is the line the golden's client read there (digits as ``X``), and the replay reads the
simulator's line and compares it, digits masked the same way. ``press`` notes of card keys
have their digits as ``X``; the replay presses digits of a test number in their place.

``shape()`` turns one message into what is compared: content type, reply text (uuids, numbers
and the version line normalized), the event name, application and response, the envelope's
header names and, for events, the names of the event's own headers (not ``variable_*``: those
come from how the call was made, loopback there, a simulated caller here).
"""
import re
import shutil
import tempfile
import time

import gevent
import gevent.queue
from gevent import socket
from gevent.server import StreamServer

from orchestrator.simulator import CallerScript
from tests.support.esl_messages import Message, RawClient
from tests.support.secure_entry import SCRIPT, Fifo

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
SYNC_TIMEOUT = 3.0
MAX_GAP = 0.2
LINE_TIMEOUT = 10.0             # the golden's fields end on keys; 5 s is their longest timeout
LUA_ARG = re.compile(r"^(execute-app-arg: )(\S+) (read|play)\b(.*)$", re.M)
REPLAY_KEYS = "4111111111111111"   # pressed where the golden noted a card digit as X


def normalize_text(text):
    text = UUID.sub("<uuid>", text or "")
    text = re.sub(r"\(Version [^)]*\)", "(Version <v>)", text)
    text = re.sub(r"\d+", "N", text)
    return re.sub(r"\bN (\w+?)s\b", r"N \1", text)   # "1 second" / "2 seconds"


def shape(message):
    """What of one message must be the same on the simulator as on the real switch."""
    ctype = message.content_type
    envelope = tuple(sorted(name for name, _ in message.envelope if name != "Content-Length"))
    if message.event and ctype == "command/reply":        # the connect reply
        return {"kind": "connect", "reply": message.get("Reply-Text"),
                "mode": message.get("Socket-Mode"), "control": message.get("Control"),
                "headers": _event_names(message)}
    if ctype in ("command/reply", "api/response"):
        text = message.get("Reply-Text") if ctype == "command/reply" else message.body
        return {"kind": "reply", "type": ctype, "text": normalize_text(text), "envelope": envelope}
    if ctype.startswith("text/event-"):
        return {"kind": "event", "type": ctype, "name": message.event_name,
                "app": message.get("Application"),
                "response": message.get("Application-Response"),
                "headers": _event_names(message), "has_body": bool(message.event_body),
                "variables": any(name.startswith("variable_") for name, _ in message.event)}
    if ctype == "text/disconnect-notice":
        return {"kind": "notice", "disposition": message.header("Content-Disposition"),
                "envelope": envelope, "body": message.body}
    return {"kind": "other", "type": ctype, "envelope": envelope}


def _event_names(message):
    return frozenset(name for name, _ in message.event if not name.startswith("variable_"))


def golden_messages(records):
    return [Message(r["raw"]) for r in records if r["dir"] == "s2c"]


def golden_closed_by_switch(records):
    """Whether the switch ended the connection (rather than following the client's close)."""
    closes = [r for r in records if r["dir"] == "close"]
    return bool(closes) and closes[0].get("by") == "switch"


def _sync_waits(pending):
    """What to wait for before acting: the messages the client had seen in the golden."""
    for message in pending:
        if message.is_reply:
            yield ("reply", None)
        elif message.event_name == "CHANNEL_EXECUTE_COMPLETE" and message.get("Application") != "socket":
            yield ("complete", message.get("Application-UUID"))
        elif message.event_name == "DTMF":
            yield ("dtmf", None)
        elif message.content_type == "text/disconnect-notice":
            yield ("notice", message.header("Content-Disposition"))


class Replay:
    """One golden transcript replayed against ``switch``; ``messages`` is what came back."""

    def __init__(self, records, switch, caller=None, full=True):
        self.records = records
        self.switch = switch
        self.caller = caller
        self.full = full
        self.mode = records[0].get("mode")
        self.problems = []
        self.call = None
        self.client = None
        self.fifos = []            # the FIFOs of the script's reads, in order
        self._fifo_dir = None
        self._lines_read = 0

    @property
    def messages(self):
        return self.client.messages if self.client else []

    def run(self):
        if self.mode == "outbound":
            self._open_outbound()
        else:
            self.client = RawClient(socket.create_connection(self.switch.inbound_address, timeout=5))
        try:
            self._drive()
        finally:
            self.client.close()
            for fifo in self.fifos:
                fifo.close()
            if self._fifo_dir:
                shutil.rmtree(self._fifo_dir, ignore_errors=True)
        return self

    def _open_outbound(self):
        accepted = gevent.queue.Queue()
        server = StreamServer(("127.0.0.1", 0), lambda s, p: (accepted.put(s), gevent.sleep(30)))
        server.start()
        try:
            caller = self.caller or CallerScript.from_data({"steps": [], "max_duration": 60})
            self.call = self.switch.place_call(server.address, caller=caller, full=self.full)
            self.client = RawClient(accepted.get(timeout=5))
        finally:
            server.close()

    def _drive(self):
        golden_uuid = None
        pending = []
        replies = dtmf = 0
        last_t = None
        for record in self.records:
            kind = record["dir"]
            if kind == "s2c":
                message = Message(record["raw"])
                if golden_uuid is None and message.get("Unique-ID"):
                    golden_uuid = message.get("Unique-ID")
                pending.append(message)
                continue
            if kind not in ("c2s", "note"):
                continue
            for what, value in _sync_waits(pending):
                if what == "reply":
                    replies += 1
                    self._wait(lambda m, n=replies: m.is_reply and self._count_replies() >= n,
                               "reply #%d" % replies)
                elif what == "complete":
                    self._wait(lambda m, u=value: m.event_name == "CHANNEL_EXECUTE_COMPLETE"
                               and m.get("Application-UUID") == u, "completion %s" % value)
                elif what == "dtmf":
                    dtmf += 1
                    self._wait(lambda m, n=dtmf: m.event_name == "DTMF"
                               and self._count(lambda x: x.event_name == "DTMF") >= n, "DTMF")
                else:
                    self._wait(lambda m, d=value: m.header("Content-Disposition") == d,
                               "%s notice" % value)
            pending = []
            if last_t is not None:
                gevent.sleep(min(MAX_GAP, max(0.0, record["t"] - last_t)))
            last_t = record["t"]
            if kind == "c2s":
                raw = record["raw"]
                if golden_uuid and self.call is not None:
                    raw = raw.replace(golden_uuid, self.call.uuid)
                raw = self._secure_entry(raw)
                try:
                    self.client.sock.sendall(raw.encode("utf-8"))
                except OSError:
                    self.problems.append("could not send %r: socket closed" % raw[:40])
                    return
            else:
                self._act(record["text"])
        if golden_closed_by_switch(self.records) and not self.client.wait_closed(SYNC_TIMEOUT + 3):
            self.problems.append("the simulator did not close the connection")
        else:
            gevent.sleep(0.2)  # anything the simulator still sends after the golden ended

    def _secure_entry(self, raw):
        """A ``lua`` execute of the card-entry script: this checkout's script path, and for a
        read a FIFO of the replay's own, opened for reading before the execute is sent."""
        if "execute-app-name: lua" not in raw:
            return raw
        match = LUA_ARG.search(raw)
        if match is None:
            return raw
        rest = match.group(4)
        if match.group(3) == "read":
            if self._fifo_dir is None:
                self._fifo_dir = tempfile.mkdtemp(prefix="replay-fifo-")
            fifo = Fifo(self._fifo_dir)
            self.fifos.append(fifo)
            golden_fifo = rest.split()[0]
            rest = rest.replace(golden_fifo, fifo.path, 1)
        return (raw[:match.start()] + match.group(1) + SCRIPT + " " + match.group(3) + rest
                + raw[match.end():])

    def _fifo_line(self, expected):
        if self._lines_read >= len(self.fifos):
            self.problems.append("a fifo-line note with no read of the script before it")
            return
        fifo = self.fifos[self._lines_read]
        self._lines_read += 1
        line = fifo.line(LINE_TIMEOUT)
        if line is None:
            self.problems.append("the simulator wrote no line to the script's FIFO (golden: %r)"
                                 % expected)
        elif re.sub(r"\d", "X", line.rstrip("\n")) != expected:
            self.problems.append("the simulator's FIFO line %r is not the golden's %r"
                                 % (re.sub(r"\d", "X", line), expected))

    def _act(self, note):
        if note.startswith("press "):
            keys = note[len("press "):]
            if "X" in keys:
                digits = iter(REPLAY_KEYS * 2)
                keys = "".join(next(digits) if key == "X" else key for key in keys)
            self.call.press(keys)
        elif note.startswith("fifo-line "):
            self._fifo_line(note[len("fifo-line "):])
        elif note == "caller-hangup":
            self.call.hangup()
        elif note == "client-abort":
            self.client.close(abrupt=True)
        else:
            raise ValueError("unknown note in golden transcript: %r" % note)

    def _count_replies(self):
        return self._count(lambda m: m.is_reply)

    def _count(self, predicate):
        return sum(1 for m in self.client.messages if predicate(m))

    def _wait(self, predicate, what):
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            if any(predicate(m) for m in self.client.messages):
                return
            if self.client.closed.is_set():
                break
            gevent.sleep(0.01)
        self.problems.append("the simulator never sent %s" % what)
