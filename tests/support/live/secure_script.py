"""``freeswitch_conf/scripts/pay_secure.lua`` on a real switch: a call that runs it the way
docs/secure-entry.md says, the FIFO it writes to, and the other clients that must learn nothing.

* ``ScriptCall``: a loopback call whose dialplan leg (B) reaches the test over the outbound
  socket of the shipped extension; the test plays the orchestrator (``connect``, ``myevents``,
  ``answer``, ``sensitive_dtmf=true``, then ``api uuid_setvar`` and ``sendmsg execute lua`` with
  ``event-lock: true``). The caller (A, parked) presses keys with ``uuid_send_dtmf A``.
* ``Fifo`` (tests/support/secure_entry.py): the orchestrator's side of the hand-over: ``mkfifo``
  0620 in a private directory, opened ``O_RDONLY|O_NONBLOCK`` before the execute, one line read
  with a deadline.
* ``Watchers``: what else a site has on the event socket: a client on ``event plain ALL``, one
  on ``event json ALL``, one on the log stream at debug. ``Watchers.findings`` searches all they
  received, the call's own socket and the switch's log file for given runs of digits, for DTMF
  events and for per-key log lines, leaving out exactly what the test's own key presses cause:
  the ``API`` event of its ``uuid_send_dtmf A <keys>`` and the log lines of leg A (the test's
  caller; on a real call the phone is not on this switch). Lines are told apart by the uuid the
  shipped logfile profile writes first (``uuid=true``) and the log stream's ``User-Data``.
"""
import os
import re
import time
import uuid as uuidlib
from urllib.parse import unquote

import gevent
import gevent.queue
from gevent import socket
from gevent.server import StreamServer

from tests.support.esl_messages import RawClient
from tests.support.secure_entry import SCRIPT, encode_segments
# Log lines that name one key, by FreeSWITCH 1.10.12's source: switch_channel.c (RECV DTMF),
# switch_rtp.c (RTP RECV DTMF), mod_sofia's rtp.c and sofia.c (Enqueuing RFC2833 DTMF, INFO
# DTMF), switch_core_io.c (send dtmf digit=), mod_dptools.c (Digit, ... digit), switch_ivr_async.c
# (DTMF DETECTED, ACCEPT TERMINATOR), switch_ivr_play_say.c (ACCEPT DIGIT, Test Regex),
# switch_cpp.cpp (dtmf_buf). None may name a key of a payment leg.
KEY_OF_LINE = re.compile(r"(?:\bDigit |RECV DTMF |digit=|DTMF DETECTED: \[|ACCEPT DIGIT "
                         r"|ACCEPT TERMINATOR |RFC2833 DTMF |INFO DTMF\(| digit |dtmf_buf: "
                         r"|Test Regex \[)([0-9A-D*#])")
UUID_PREFIX = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) ")


def inbound_client(live, subscription):
    """An authenticated raw inbound client that has sent ``subscription`` (``event plain ALL``,
    ``log 7``...)."""
    sock = socket.create_connection((live.host, live.port), timeout=5)
    sock.settimeout(None)      # a quiet minute is not the end of the connection
    client = RawClient(sock)
    client.wait(lambda m: m.content_type == "auth/request", 5, 0, "auth/request")
    for text in ("auth %s" % live.password, subscription):
        start = len(client.messages)
        client.send(text)
        reply = client.messages[client.wait(lambda m: m.is_reply, 5, start, "reply to %s" % text)]
        assert (reply.get("Reply-Text") or "").startswith("+OK"), (text, reply.get("Reply-Text"))
    return client


class Watchers:
    """The other event-socket clients, and the log, for the duration of one test."""

    def __init__(self, live):
        self.live = live
        self.plain = inbound_client(live, "event plain ALL")
        self.json = inbound_client(live, "event json ALL")
        self.log = inbound_client(live, "log 7")
        self.log_path = live.process.log_path if live.process is not None else None
        self.log_start = self._log_size()

    def _log_size(self):
        try:
            return os.path.getsize(self.log_path) if self.log_path else 0
        except OSError:
            return 0

    def log_file_lines(self):
        """The lines the log file got since these watchers started ([] without a local file)."""
        if not self.log_path:
            return []
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self.log_start if self._log_size() >= self.log_start else 0)
            return handle.read().splitlines()

    def wait_gone(self, b_leg, timeout=20.0):
        """The call's leg is destroyed and both logs have said so."""
        def destroyed(m):
            return m.event_name == "CHANNEL_DESTROY" and m.get("Unique-ID") == b_leg
        self.plain.wait(destroyed, timeout, 0, "CHANNEL_DESTROY of %s" % b_leg)
        self.json.wait(destroyed, timeout, 0, "CHANNEL_DESTROY of %s (json)" % b_leg)
        self.log.wait(lambda m: m.get("User-Data") == b_leg and "Close Channel" in m.body,
                      timeout, 0, "the log stream's Close Channel of %s" % b_leg)
        if self.log_path:
            deadline = time.monotonic() + timeout
            while not any(line.startswith(b_leg) and "Close Channel" in line
                          for line in self.log_file_lines()):
                assert time.monotonic() < deadline, "no Close Channel of %s in the log file" % b_leg
                gevent.sleep(0.1)

    def findings(self, runs, call=None, callers=()):
        """What the watchers, the call's own socket and the log hold that they must not:
        ``{"events": [...], "log": [...], "dtmf": [...], "key_lines": [...]}``, each entry
        naming where. ``runs`` are the digit strings searched for. ``callers``: every call the
        test placed while these watchers listened (``call`` among them), whose caller legs are
        the test pressing keys, not the switch telling."""
        placed = set(callers) | ({call} if call is not None else set())
        sent = set().union(*(placed_call.sent_keys for placed_call in placed))
        test_callers = {placed_call.a_leg for placed_call in placed}
        found = {"events": [], "log": [], "dtmf": [], "key_lines": []}
        clients = [("plain", self.plain), ("json", self.json)]
        if call is not None:
            clients.append(("call socket", call.client))
        for where, client in clients:
            for message in client.messages:
                if message.event_name == "API" and message.get("API-Command") == "uuid_send_dtmf" \
                        and message.get("API-Command-Argument") in sent:
                    continue   # the test pressing keys, not the switch telling
                if message.event_name == "DTMF" or message.get("DTMF-Digit") is not None:
                    found["dtmf"].append((where, message.get("Unique-ID")))
                text = message.raw + "\n" + unquote(message.raw)
                for run in runs:
                    if run in text:
                        found["events"].append((where, message.event_name or message.content_type,
                                                run))
        lines = [("log stream", m.get("User-Data"), m.body) for m in self.log.messages
                 if m.content_type == "log/data"]
        for line in self.log_file_lines():
            prefix = UUID_PREFIX.match(line)
            lines.append(("log file", prefix.group(1) if prefix else None, line))
        for where, leg, line in lines:
            if leg in test_callers:
                continue       # the test's caller sending the keys
            for run in runs:
                if run in line:
                    found["log"].append((where, run, line.strip()[-160:]))
            if KEY_OF_LINE.search(line):
                found["key_lines"].append((where, line.strip()[-160:]))
        return found

    def close(self):
        for client in (self.plain, self.json, self.log):
            client.close()


class Outbound:
    """Where the shipped extension's ``socket`` connects: the test listens there."""

    def __init__(self, address):
        self.accepted = gevent.queue.Queue()
        self.server = StreamServer(address, lambda s, p: (self.accepted.put(s), gevent.sleep(300)))
        self.server.start()

    def accept(self, timeout=15.0):
        return RawClient(self.accepted.get(timeout=timeout))

    def close(self):
        self.server.stop(timeout=1)


class ScriptCall:
    """One loopback call whose B leg the test drives over its outbound socket."""

    def __init__(self, control, outbound, sensitive=True):
        self.control = control
        self.sent_keys = set()
        self.a_leg = control.call(variables={"hangup_complete_with_xml": "true"})
        self.client = outbound.accept()
        self.client.send("connect")
        index = self.client.wait(lambda m: m.get("Reply-Text") == "+OK\n", 10, 0, "connect reply")
        self.b_leg = self.client.messages[index].get("Unique-ID")
        assert self.client.messages[index].get("variable_other_loopback_leg_uuid") == self.a_leg
        self.command("myevents")
        self.run("answer")
        self.run("set", "hangup_complete_with_xml=true")
        # what the shipped dialplan's payment extensions do before `socket`; the read's say:
        # prompts use the channel's TTS voice
        self.run("set", "sensitive_dtmf=%s" % ("true" if sensitive else "false"))
        self.run("set", "tts_engine=flite")
        self.run("set", "tts_voice=kal")

    # ---- the orchestrator's side
    def command(self, text, timeout=10.0):
        start = len(self.client.messages)
        self.client.send(text)
        return self.client.messages[self.client.wait(lambda m: m.is_reply, timeout, start,
                                                     "reply to %r" % text.split("\n")[0])]

    def api(self, text):
        return self.control.api(text)

    def execute(self, app, arg="", lock=True):
        """Queue ``app`` with event-lock (docs/secure-entry.md); its Application-UUID."""
        app_uuid = str(uuidlib.uuid4())
        lines = ["sendmsg", "call-command: execute", "execute-app-name: %s" % app]
        if arg:
            lines.append("execute-app-arg: %s" % arg)
        lines.append("event-uuid: %s" % app_uuid)
        if lock:
            lines.append("event-lock: true")
        reply = self.command("\n".join(lines))
        assert reply.get("Reply-Text", "").startswith("+OK"), reply.get("Reply-Text")
        return app_uuid

    def event(self, name, app_uuid, timeout=15.0):
        index = self.client.wait(lambda m: m.event_name == name
                                 and m.get("Application-UUID") == app_uuid, timeout, 0,
                                 "%s of %s" % (name, app_uuid))
        return self.client.messages[index]

    def is_complete(self, app_uuid):
        return any(m.event_name == "CHANNEL_EXECUTE_COMPLETE"
                   and m.get("Application-UUID") == app_uuid for m in self.client.messages)

    def run(self, app, arg="", timeout=15.0):
        return self.event("CHANNEL_EXECUTE_COMPLETE", self.execute(app, arg), timeout)

    def read(self, fifo_path, minimum, maximum, first_ms, inter_ms, terminators="#*",
             prompt="silence", wait=True):
        """Queue the script's read; returns the lua application's uuid, once it runs unless
        not ``wait`` (an execute queued behind another one)."""
        reply = self.api("uuid_setvar %s pay_secure_prompt %s" % (self.b_leg, prompt))
        assert reply.startswith("+OK"), reply
        app_uuid = self.execute("lua", "%s read %s %d %d %d %d %s" % (
            SCRIPT, fifo_path, minimum, maximum, first_ms, inter_ms, terminators))
        if wait:
            self.event("CHANNEL_EXECUTE", app_uuid)
        return app_uuid

    def play(self, *segments):
        value = encode_segments(*segments)
        assert self.api("uuid_setvar %s pay_secure_play %s" % (self.b_leg, value)).startswith("+OK")
        app_uuid = self.execute("lua", "%s play" % SCRIPT)
        self.event("CHANNEL_EXECUTE", app_uuid)
        return app_uuid

    def var(self, name):
        return self.api("uuid_getvar %s %s" % (self.b_leg, name)).strip()

    # ---- the caller's side
    def press(self, keys):
        self.sent_keys.add("%s %s" % (self.a_leg, keys))
        reply = self.control.press(self.a_leg, keys)
        assert reply.startswith("+OK"), reply
        return reply

    def hang_up(self):
        return self.control.hang_up(self.a_leg)

    def close(self):
        self.control.hang_up(self.a_leg)
        self.client.close()
