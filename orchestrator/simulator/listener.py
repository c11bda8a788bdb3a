"""One ESL connection as mod_event_socket's listener_t: subscriptions, filters, the
commands both socket directions share (event, filter, api, bgapi, sendmsg <uuid>, exit),
the faults, and a single writer so that replies and events never interleave on the wire.
"""
from __future__ import annotations

import logging
import re
import socket as stdsocket
import struct
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple

import gevent
import gevent.event
from gevent.queue import Queue

from .events import EVENT_NAMES, SimEvent, new_uuid
from .faults import NO_FAULTS, Faults
from .wire import Command, CommandReader, ConnectionClosed, api_response, command_reply, \
    disconnect_notice, event_message, now

if TYPE_CHECKING:
    from .switch import Switch

log = logging.getLogger(__name__)

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
_CLOSE = object()

Transcript = Callable[[str, str], None]


class Listener:
    """Base of the inbound and outbound connection handlers."""

    outbound = False
    full = True

    def __init__(self, switch: "Switch", sock, faults: Optional[Faults] = None,
                 transcript: Optional[Transcript] = None):
        self.switch = switch
        self.sock = sock
        self.faults = faults or NO_FAULTS
        self._transcript = transcript
        self._reader = CommandReader(sock)
        self._out: Queue = Queue()
        self.format = "plain"
        self.events_on = False
        self.all_events = False
        self.event_names: set = set()
        self.custom_subclasses: set = set()
        self.filters: List[Tuple[str, str]] = []
        self._myevents_uuid: Optional[str] = None
        self.session_uuid: Optional[str] = None  # the controlled channel (outbound only)
        self.commands_seen = 0
        self.closing = False      # no more events; writer flushes then closes
        self.closed = gevent.event.Event()
        self.opened_at = now()
        self._greenlets: list = []
        self._timers: list = []

    @property
    def myevents_uuid(self) -> Optional[str]:
        """The channel whose events alone this listener gets (``myevents``), if any."""
        return self._myevents_uuid

    @myevents_uuid.setter
    def myevents_uuid(self, value: Optional[str]) -> None:
        old, self._myevents_uuid = self._myevents_uuid, value
        self.switch.listener_moved(self, old, value)   # the switch files it under the channel

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._greenlets.append(self.switch.spawn(self._write_loop))
        self._greenlets.append(self.switch.spawn(self._read_loop))
        if self.faults.drop_after_seconds is not None:
            self.add_timer(self.faults.drop_after_seconds, self.abort)

    def add_timer(self, seconds: float, func) -> None:
        timer = self.switch.spawn_later(seconds, func)
        self._greenlets.append(timer)
        self._timers.append(timer)

    def _write_loop(self) -> None:
        """Whatever is queued goes in one write: a reply and the events it set off, queued
        together, cost one system call. The bytes are the same; a reader of the stream cannot
        tell where one write ended."""
        try:
            closing = False
            while not closing:
                item, items = self._out.get(), []
                while item is not _CLOSE:
                    items.append(item)
                    if not self._out.qsize():
                        break
                    item = self._out.get_nowait()
                else:
                    closing = True
                if not items:
                    continue
                self.sock.sendall(items[0] if len(items) == 1 else b"".join(items))
                for item in items:
                    self._note("out", item)
        except OSError:
            pass
        finally:
            self._shutdown()

    def _read_loop(self) -> None:
        try:
            self.on_open()
            while not self.closing:
                try:
                    cmd = self._reader.read(timeout=self.read_timeout())
                except gevent.Timeout:
                    self.on_read_timeout()
                    continue
                self._note("in", cmd.raw)
                self._handle(cmd)
        except ConnectionClosed:
            self.on_peer_closed()
        except OSError:
            self.on_peer_closed()
        except Exception:  # a bug in the simulator must not hang the test run
            log.exception("simulator listener crashed")
            self.abort()

    def _handle(self, cmd: Command) -> None:
        self.commands_seen += 1
        ordinal = self.commands_seen
        if self.faults.ignores(cmd, ordinal):
            return
        if self.faults.reply_delay:
            gevent.sleep(self.faults.reply_delay)
        if self.closed.is_set():
            return
        self.dispatch(cmd)
        if self.faults.drops_after(ordinal):
            gevent.sleep(0)  # let the writer flush the reply first
            self._flush_then_abort()

    def _flush_then_abort(self) -> None:
        deadline = now() + 1.0
        while not self._out.empty() and now() < deadline and not self.closed.is_set():
            gevent.sleep(0.001)
        self.abort()

    def _note(self, direction: str, data) -> None:
        if self._transcript is not None:
            text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
            self._transcript(direction, text)

    def send(self, data: bytes) -> None:
        if not self.closed.is_set():
            self._out.put(data)

    def reply(self, text: str, extra=()) -> None:
        self.send(command_reply(text, extra))

    def finish(self, notice: Optional[bytes] = None) -> None:
        """Graceful end: flush what is queued, send ``notice``, close."""
        if self.closed.is_set():
            return
        self.closing = True
        if notice:
            self._out.put(notice)
        self._out.put(_CLOSE)

    def abort(self) -> None:
        """Abrupt end: RST, nothing more is sent."""
        if self.closed.is_set():
            return
        self.closing = True
        try:
            self.sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._shutdown()

    def _shutdown(self) -> None:
        if self.closed.is_set():
            return
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed.set()
        self._out.put(_CLOSE)  # wake the writer if it is waiting
        self.switch.listener_closed(self)
        self.on_closed()
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        """Timers (linger, drop-after) die with their connection, not when they fire."""
        current = gevent.getcurrent()
        for g in self._timers:
            if g is not current:
                g.kill(block=False)

    def kill(self) -> None:
        """Used by Switch.stop: close now and end this connection's greenlets."""
        self.abort()
        current = gevent.getcurrent()
        for g in self._greenlets:
            if g is not current:
                g.kill(block=False)

    # ---- hooks -------------------------------------------------------------
    def on_open(self) -> None: ...
    def on_peer_closed(self) -> None: self._shutdown()
    def on_closed(self) -> None: ...
    def read_timeout(self) -> Optional[float]: return None
    def on_read_timeout(self) -> None: self.finish(disconnect_notice(GOODBYE))

    # ---- commands ------------------------------------------------------------
    def dispatch(self, cmd: Command) -> None:
        """Authenticated command handling in mod_event_socket's parse_command order."""
        name, line = cmd.name, cmd.line
        if name == "exit" or line.startswith("..."):
            self.reply("+OK bye")
            self.finish(self.goodbye_notice())
            return
        if name == "filter":
            self.reply(self._filter(cmd.arg))
            return
        if self.session_command(cmd):
            return
        if name == "divert_events":
            self.reply(self._divert(cmd.arg))
            return
        if name == "sendmsg":
            self.reply(self._sendmsg(cmd))
            return
        if self.outbound and not self.full:
            self.reply("-ERR command not found")
            return
        if name == "api" and line[:4].lower() == "api ":
            self.send(api_response(self.switch.api(cmd.arg)))
        elif name == "bgapi" and line[:6].lower() == "bgapi ":
            self._bgapi(cmd)
        elif name == "event":
            self.reply(self._event(cmd.arg))
        elif name == "nixevent":
            self.reply(self._nixevent(cmd.arg))
        elif name == "noevents":
            if self.events_on:
                self.events_on, self.all_events = False, False
                self.event_names.clear()
                self.custom_subclasses.clear()
                self.reply("+OK no longer listening for events")
            else:
                self.reply("-ERR not listening for events")
        elif name in ("linger", "nolinger"):
            self.reply(self.linger_command(cmd))
        else:
            self.reply("-ERR command not found")

    def session_command(self, cmd: Command) -> bool:
        """connect/getvar/myevents/resume; True when handled."""
        return False

    def linger_command(self, cmd: Command) -> str:
        return "-ERR not controlling a session"

    def goodbye_notice(self) -> bytes:
        return disconnect_notice(GOODBYE)

    def _divert(self, arg: str) -> str:
        return "-ERR not controlling a session."

    def _filter(self, arg: str) -> str:
        parts = arg.split(" ", 1)
        header = parts[0] if parts and parts[0] else ""
        value = parts[1] if len(parts) > 1 else None
        if header.lower() == "delete" and value:
            sub = value.split(" ", 1)
            h, v = sub[0], (sub[1] if len(sub) > 1 else None)
            if h.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [(fh, fv) for fh, fv in self.filters
                                if not (fh.lower() == h.lower() and (v is None or fv == v))]
            return f"+OK filter deleted. [{h}][{v if v is not None else ''}]"
        if header and value is not None:
            if header.lower() == "add":
                sub = value.split(" ", 1)
                header, value = sub[0], (sub[1] if len(sub) > 1 else "")
            self.filters.append((header, value))
            return f"+OK filter added. [{header}]=[{value}]"
        return "-ERR invalid syntax"

    def _event(self, arg: str) -> str:
        words = arg.split()
        keys = 0
        custom = False
        for i, word in enumerate(words):
            if i == 0 and word.lower() in ("plain", "json", "xml"):
                self.format = word.lower()
                continue
            if custom:
                self.custom_subclasses.add(word)
                continue
            upper = word.upper()
            if upper in EVENT_NAMES:
                keys += 1
                if upper == "ALL":
                    self.all_events = True
                self.event_names.add(upper)
                if upper == "CUSTOM":
                    custom = True
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return f"+OK event listener enabled {self.format}"

    def _nixevent(self, arg: str) -> str:
        keys = 0
        custom = False
        for word in arg.split():
            if custom:
                self.custom_subclasses.discard(word)
                continue
            upper = word.upper()
            if upper not in EVENT_NAMES:
                continue
            keys += 1
            if upper == "CUSTOM":
                custom = True
            elif upper == "ALL":
                self.all_events = False
                self.event_names.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.event_names = set(EVENT_NAMES) - {"ALL"}
                self.event_names.discard(upper)
        if not keys:
            return "-ERR no keywords supplied"
        self.events_on = True
        return "+OK events nixed"

    def _sendmsg(self, cmd: Command) -> str:
        target = cmd.arg or cmd.headers.get("session-id", "")
        own = self.session_uuid
        if own and (not target or target == own):
            return self.switch.send_message(own, cmd)
        if not target:
            return "-ERR invalid session id []"
        return self.switch.send_message(target, cmd)

    def _bgapi(self, cmd: Command) -> None:
        job = cmd.headers.get("job-uuid") or new_uuid()
        text = cmd.arg
        api_cmd, _, api_arg = text.partition(" ")
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        owner = self.session_uuid

        def run():
            result = self.switch.api(text)
            extra = [("Job-UUID", job)]
            if owner:  # only a session's socket owns its jobs; inbound jobs carry no owner
                extra.append(("Job-Owner-UUID", owner))
            extra.append(("Job-Command", api_cmd))
            if api_arg:
                extra.append(("Job-Command-Arg", api_arg))
            self.switch.fire(self.switch.event_factory.create(
                "BACKGROUND_JOB", extra, body=result, calling=("mod_event_socket.c", "api_exec", 1572)))

        self.switch.spawn(run)

    # ---- events ----------------------------------------------------------------
    def may_want(self, name: str) -> bool:
        """Whether ``wants`` could take a channel's own event called ``name`` (one that owns
        no job: a job of this socket's reaches it whatever its name)."""
        return self.events_on and not self.closing and (self.all_events or name in self.event_names)

    def wants(self, ev: SimEvent) -> bool:
        if not self.events_on or self.closing:
            return False
        send = self.all_events or ev.name in self.event_names
        if send and ev.name == "CUSTOM" and not self.all_events:
            sub = ev.get("Event-Subclass")
            send = not sub or sub in self.custom_subclasses
        if send and self.filters:
            send = self._passes_filters(ev)
        if send and self.myevents_uuid:
            if ev.get("Unique-ID") != self.myevents_uuid:
                send = False
            if ev.get("Job-Owner-UUID") == self.myevents_uuid:
                send = True
        return send

    def _passes_filters(self, ev: SimEvent) -> bool:
        send = False
        for header, wanted in self.filters:
            value = ev.get(header)
            if value is None:
                continue
            positive = True
            comp = wanted
            while comp and comp[0] in "+- ":
                positive = comp[0] != "-" if comp[0] in "+-" else positive
                comp = comp[1:]
            if send and positive:
                continue
            if wanted.startswith("/"):
                match = re.search(comp.strip("/"), value) is not None
            else:
                match = value.lower() == comp.lower()
            if match:
                if positive:
                    send = True
                else:
                    return False
        return send

    def deliver(self, ev: SimEvent) -> None:
        if self.wants(ev):
            self.send(event_message(ev.headers, ev.body, self.format))
