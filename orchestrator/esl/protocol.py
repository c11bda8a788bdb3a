"""One ESL connection, inbound or outbound, on top of greenswitch's protocol skeleton.

greenswitch gives us the handler registry, the event queue and the greenlet that dispatches
events away from the reading greenlet (so a slow handler never stalls replies; a call's own
socket, whose one listener never blocks, has its events handled by the reader, ``inline``). Four of its
behaviours cannot be lived with in a payment service, so they are replaced here:

* ``send()`` waits forever for a reply. Here every send has a deadline; when it passes, the
  connection is closed, because a reply that arrives late would be matched to the wrong command.
* A handler that raises makes greenswitch log every header of the event. Channel events carry
  every channel variable, and a variable may briefly hold card digits, so only the handler's
  name and the exception type are logged here.
* Event bodies are URL-decoded before they are split into lines (an encoded newline in a caller
  name becomes a forged header), and a short read at end of stream loops forever. The reader
  here splits first, decodes each value and stops at end of stream.
* Nothing bounds what a peer may send: a frame of endless header lines grew a process from
  83 MB to 1.6 GB (for 1.5 GB sent, never given back), and the outbound listener has no
  authentication, so any local process could do it. Here every frame is bounded (header
  lines, header bytes, body bytes) and so is the queue of events not yet handled
  (``FrameLimits``, ``limits.esl`` in the config); a peer that crosses a bound has its
  connection closed, with one log line naming the bound.
* When the socket drops, commands waiting for a reply wait forever. Here they fail with
  ``ConnectionLost`` and a final ``connection/lost`` message is dispatched after every event
  that was already received, so listeners see a hangup before they see the loss.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import (Any, Callable, Dict, ItemsView, Iterator, KeysView, List, Mapping, Optional,
                    Tuple, ValuesView)
from urllib.parse import unquote

import gevent
import gevent.event
import gevent.lock
from gevent import socket
from greenswitch.esl import ESLProtocol

from orchestrator import bounded_json
from orchestrator.esl.errors import CommandFailed, CommandTimeout, ConnectionLost
from orchestrator.tcp import no_delay

log = logging.getLogger(__name__)

CONNECTION_LOST = "connection/lost"
REPLY_TYPES = ("command/reply", "api/response")


class ProtocolError(Exception):
    """The peer sent something that is not ESL framing."""


class FrameTooLarge(ProtocolError):
    """The peer crossed one of the connection's ``FrameLimits``; ``limit`` names which."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class FrameLimits:
    """How much of this process one ESL connection may hold (``limits.esl`` in the config).

    The defaults are generous for real traffic. Measured on 1.10.12: a ``connect`` reply,
    which carries every channel variable as a header, is about 105 lines and 3.5 KB on a
    loopback call; a SIP call with its SDP and SIP headers in variables runs to a few hundred
    lines and some tens of KB, and so does a CHANNEL_HANGUP_COMPLETE event with every
    variable (its headers are the frame's body). A ``bgapi`` result or an ``api`` answer is
    a body too. At the defaults a connection holds at most about 4 MB of frame at a time,
    so ``max_calls`` connections stay in the hundreds of MB even when every peer misbehaves.
    """

    max_header_lines: int = 1024             # header lines of one frame
    max_header_bytes: int = 128 * 1024       # bytes of one frame's header block
    max_body_bytes: int = 4 * 1024 * 1024    # one frame's Content-Length
    max_queued_events: int = 10000           # events received and not yet handled


class EslMessage:
    """A message from the switch: envelope or event headers, and an optional body.

    For ``text/event-plain`` and ``text/event-json`` the headers are the event's own, with the
    envelope's ``Content-Type`` kept so dispatch can tell events from notices. The repr shows
    the type and event name only: header values may hold anything a channel variable holds.
    """

    __slots__ = ("headers", "body")

    def __init__(self, headers: Mapping[str, str], body: str = "") -> None:
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return header(self, "Content-Type")

    @property
    def event_name(self) -> str:
        return header(self, "Event-Name")

    @property
    def reply_text(self) -> str:
        """What a command answered: the Reply-Text of a command, the body of an api call."""
        if self.content_type == "api/response":
            return self.body
        return self.headers.get("Reply-Text", "")

    def __repr__(self) -> str:
        return "<EslMessage %s %s>" % (self.content_type, self.event_name)


def parse_header_block(text: str) -> Dict[str, str]:
    """Parse ``Name: value`` lines whose values are URL-encoded, as FreeSWITCH writes them.

    Each value is decoded on its own line (an encoded newline stays inside its value), but in
    one pass over them all (``decode_values``): decoding them one by one was the largest part
    of reading an event, and a channel event has a hundred values or more."""
    names: List[str] = []
    values: List[str] = []
    for line in text.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            names.append(name.strip())
            values.append(value.strip())
    return dict(zip(names, decode_values(values)))


def decode_values(values: List[str]) -> List[str]:
    """``[unquote(v) for v in values]``, faster for what FreeSWITCH sends.

    switch_url_encode leaves only ASCII, with every ``%`` followed by two hex digits and every
    backslash encoded. For such text, ``%XX`` read as ``\\xXX`` by Python's ``unicode_escape``
    codec gives each escaped byte, and the bytes read as UTF-8 (bad sequences replaced, as
    ``unquote`` does) give the values, all in C. Anything else (a backslash, a non-ASCII
    character, a ``%`` without two hex digits, a NUL that would shift the values) takes the
    plain way, value by value, so the result is always ``unquote``'s."""
    blob = "\x00".join(values)
    if "%" not in blob:
        return values
    # NUL between the values: a decoded ``%0A`` (the connect reply's Reply-Text is "+OK\n")
    # stays inside its value; a NUL of the peer's own, raw or ``%00``, adds a part, and the
    # count below sends the whole to the plain way
    if "\\" not in blob:
        try:
            decoded = (blob.replace("%", "\\x").encode("ascii").decode("unicode_escape")
                       .encode("latin-1").decode("utf-8", "replace").split("\x00"))
        except UnicodeError:
            decoded = []
        if len(decoded) == len(values):
            return decoded
    return [unquote(value) for value in values]


# whitespace ``str.strip`` takes off a name, besides the space after a colon and the line
# breaks; FreeSWITCH URL-encodes every value, so its events hold none of these
_ODD_SPACES = ("\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\n ", " :")


def _scannable(head: str) -> bool:
    """Whether finding ``\nName:`` in ``head`` finds what ``parse_header_block`` would: ASCII
    (no wider whitespace) with no whitespace round a name."""
    return head.isascii() and not any(odd in head for odd in _ODD_SPACES)


class EventHeaders(Mapping[str, str]):
    """A ``text/event-plain`` event's headers, parsed (``parse_header_block``) the first time
    they are read as a whole. ``peek`` reads one header without parsing the rest.

    Why: a channel event carries every channel variable, a hundred headers or more, and most
    events are read for three of them (name, uuid, application uuid); parsing each whole was
    the largest part of a minimal call's reading. Parsed or peeked, a header reads the same:
    the last line of that name, its value stripped and URL-decoded."""

    __slots__ = ("_head", "_parsed", "_content_type", "_plain")

    def __init__(self, head: str, content_type: str) -> None:
        self._head = "\n" + head          # every header line now starts after a line break
        self._parsed: Optional[Dict[str, str]] = None
        self._content_type = content_type
        self._plain: Optional[bool] = None     # _scannable(head), once asked

    def _all(self) -> Dict[str, str]:
        if self._parsed is None:
            parsed = parse_header_block(self._head)
            parsed["Content-Type"] = self._content_type
            self._parsed, self._head = parsed, ""
        return self._parsed

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        """Whether there is any header, without parsing them (``headers or {}`` would, through
        ``__len__``: every variable of the event decoded to learn that it is not empty)."""
        if self._parsed is not None:
            return bool(self._parsed)
        return True     # the Content-Type at least

    def items(self) -> ItemsView[str, str]:   # the parsed dictionary's, not Mapping's lookups
        return self._all().items()

    def keys(self) -> KeysView[str]:
        return self._all().keys()

    def values(self) -> ValuesView[str]:
        return self._all().values()

    def peek(self, name: str) -> str:
        """One header's value ("" when absent), as the parsed headers would hold it."""
        value = self._find(name)
        return "" if value is None else value

    def get(self, name: str, default: Any = None) -> Any:   # Mapping's would parse them all
        value = self._find(name)
        return default if value is None else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def _find(self, name: str) -> Optional[str]:
        if self._parsed is not None:
            return self._parsed.get(name)
        if name == "Content-Type":
            return self._content_type
        head = self._head
        if self._plain is None:
            self._plain = _scannable(head)
        if not self._plain:
            # not as the switch writes: a line the parser could read another way than this
            # scan (a name with spaces round it); read it the parser's way
            return self._all().get(name)
        key = "\n" + name + ":"
        at = head.rfind(key)
        if at < 0:
            return None
        end = head.find("\n", at + 1)
        value = head[at + len(key):end if end >= 0 else None].strip()
        return decode_values([value])[0] if "%" in value else value


def header(message: "EslMessage", name: str) -> str:
    """One header of a message ("" when absent), without parsing an event's other headers."""
    headers = message.headers
    if type(headers) is EventHeaders:      # not isinstance: an ABC's check costs more
        return headers.peek(name)
    return headers.get(name, "")


def parse_plain_event(text: str) -> Tuple[Dict[str, str], str]:
    """Split a ``text/event-plain`` body into the event's headers and the event's own body."""
    head, _, rest = text.partition("\n\n")
    headers = parse_header_block(head)
    length = headers.get("Content-Length")
    body = rest[: int(length)] if length and length.isdigit() else rest
    return headers, body


def parse_json_event(text: str) -> Tuple[Dict[str, str], str]:
    """A ``text/event-json`` body: one flat object (nested deeper, it is refused, a ValueError,
    before the decoder could recurse out of the reading greenlet)."""
    data = bounded_json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("an event-json body must be an object")
    body = data.pop("_body", "")
    return {str(k): str(v) for k, v in data.items()}, body


class EslConnection(ESLProtocol):
    """A framed, deadline-bound ESL connection; see the module docstring for why it exists."""

    # set by greenswitch's ESLProtocol: the reply waiters, oldest command first
    _commands_sent: List["gevent.event.AsyncResult"]

    def __init__(self, sock: Any, *, reply_timeout: float = 5.0, name: str = "esl",
                 limits: Optional[FrameLimits] = None,
                 on_limit: Optional[Callable[[str], None]] = None,
                 inline: bool = False) -> None:
        """``on_limit(name)`` is told which bound of ``limits`` a peer crossed (for a metric).

        ``inline``: listeners are called by the reading greenlet as each message is read,
        with no queue and no dispatching greenlet. Only for listeners that never block (a
        call's ``Channel`` only files what it is told for its own greenlet): a greenlet and a
        queue hop for each event were a tenth of a short call's cost to the service."""
        super().__init__()
        self.inline = inline
        self.limits = limits or FrameLimits()
        self.on_limit = on_limit
        self.sock = sock
        no_delay(sock)      # as the switch has it on its side (orchestrator/tcp.py)
        self.sock_file = sock.makefile("rb")
        self.connected = True
        self.name = name
        self.reply_timeout = reply_timeout
        self.lost = gevent.event.Event()
        self._write_lock = gevent.lock.Semaphore()
        self._listeners: List[Callable[[EslMessage], None]] = []
        self.register_handle("*", self._dispatch)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self.inline:
            self._receive_events_greenlet = gevent.spawn(self.receive_events)
        else:
            self.start_event_handlers()

    def add_listener(self, callback: Callable[[EslMessage], None]) -> None:
        """Call ``callback(message)`` for every event and notice, in arrival order."""
        self._listeners.append(callback)

    def close(self, say_exit: bool = True, exit_timeout: float = 1.0) -> None:
        """Leave politely if we still can, then release the socket and both greenlets."""
        if say_exit and self.connected and not self.lost.is_set():
            try:
                self.send("exit", timeout=exit_timeout)
            except Exception:  # the peer may already be gone; closing is all that is left
                pass
        self._run = False
        self.connected = False
        self._close_socket()
        current = gevent.getcurrent()
        greenlets = [g for g in (self._receive_events_greenlet, self._process_events_greenlet)
                     if g is not None and g is not current]
        gevent.killall(greenlets, block=True, timeout=2)
        try:
            self.sock_file.close()
        except (OSError, RuntimeError):
            pass  # the reader was killed mid-read; the socket under it is closed already

    def _close_socket(self) -> None:
        """Shut the socket down; the reader sees end of stream and finishes on its own."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    # -- sending ---------------------------------------------------------------------------
    def send(self, data: str, timeout: Optional[float] = None) -> EslMessage:
        """Send one command and return its reply message; ``-ERR`` replies are returned too."""
        return self.send_all([data], timeout)[0]

    def send_all(self, commands: List[str], timeout: Optional[float] = None) -> List[EslMessage]:
        """Send several commands in one write and return their replies, in order. The switch
        answers each in turn; one write instead of one per command is one system call and one
        wake-up instead of several, for each call's set-up."""
        if not self.connected or self.lost.is_set():
            raise ConnectionLost()
        deadline = self.reply_timeout if timeout is None else timeout
        waiters = [gevent.event.AsyncResult() for _ in commands]
        raw = b"".join((data.rstrip("\n") + "\n\n").encode("utf-8") for data in commands)
        with self._write_lock:
            self._commands_sent.extend(waiters)
            try:
                self._write(raw, deadline)
            except CommandTimeout:
                self._give_up("write timeout")
                raise
            except OSError:
                self._on_lost()
                raise ConnectionLost()
        replies = []
        until = time.monotonic() + deadline
        try:
            for waiter in waiters:
                replies.append(waiter.get(timeout=max(0.0, until - time.monotonic())))
        except gevent.Timeout:
            self._give_up("no reply within %.1fs" % deadline)
            raise CommandTimeout("%s: no reply within %.1fs" % (self.name, deadline))
        return replies

    def _write(self, raw: bytes, deadline: float) -> None:
        """All of ``raw``, within ``deadline`` seconds. What the kernel takes at once (nearly
        always all of it) needs no timer; only a remainder waits, under one."""
        try:
            sent = self.sock.send(raw, 0, timeout=0.0)
        except BlockingIOError:
            sent = 0
        if sent < len(raw):
            with gevent.Timeout(deadline, CommandTimeout("write to %s timed out" % self.name)):
                self.sock.sendall(raw[sent:])

    def commands(self, commands: List[str], timeout: Optional[float] = None) -> List[EslMessage]:
        """``command`` for several at once (``send_all``): any ``-ERR`` raises CommandFailed,
        after every reply has come."""
        replies = self.send_all(commands, timeout)
        for reply in replies:
            if reply.reply_text.startswith(("-ERR", "-USAGE")):
                raise CommandFailed(reply.reply_text.strip())
        return replies

    def command(self, data: str, timeout: Optional[float] = None) -> EslMessage:
        """Send a command that must succeed; ``-ERR`` (or an api's ``-USAGE``) becomes
        ``CommandFailed``, on every socket alike."""
        reply = self.send(data, timeout=timeout)
        text = reply.reply_text
        if text.startswith(("-ERR", "-USAGE")):
            raise CommandFailed(text.strip())
        return reply

    def _give_up(self, why: str) -> None:
        """A late reply would answer the wrong command: the only safe move is to hang up the line."""
        log.warning("esl connection closed: %s", why, extra={"esl_peer": self.name})
        self._on_lost()

    # -- receiving -------------------------------------------------------------------------
    def receive_events(self) -> None:
        try:
            while self._run:
                message = self._read_message()
                if message is None:
                    break
                self.handle_event(message)
        except FrameTooLarge as exc:
            self.cut_off(exc)
        except (OSError, ProtocolError, ValueError) as exc:
            if self._run:
                log.info("esl read ended: %s", type(exc).__name__, extra={"esl_peer": self.name})
        finally:
            self._on_lost()
            # The file object holds the descriptor open after the socket is closed; only this
            # greenlet reads it, so it can let go now: the peer sees the connection end at once,
            # not when the owner of this connection gets round to close().
            try:
                self.sock_file.close()
            except (OSError, RuntimeError):
                pass

    def cut_off(self, why: FrameTooLarge) -> None:
        """Close the connection because the peer crossed a bound; one line says which."""
        if self.lost.is_set():
            return                     # already closed: events still queued may cross it again
        # the message holds bounds and counts only, never what the peer sent
        log.warning("esl connection closed: %s (limits.esl.%s)", why, why.limit,
                    extra={"esl_peer": self.name})
        if self.on_limit is not None:
            self.on_limit(why.limit)
        self._on_lost()

    def _read_message(self) -> Optional[EslMessage]:
        head = self._read_buffered_head() or self._read_head_by_lines()
        if head is None:
            return None
        headers = parse_header_block(head)
        body = ""
        length = headers.get("Content-Length")
        if length:
            size = int(length)
            if size < 0:
                raise ProtocolError("negative body length")
            if size > self.limits.max_body_bytes:
                raise FrameTooLarge("a frame announced a body of %d bytes, more than %d"
                                    % (size, self.limits.max_body_bytes), "max_body_bytes")
            body = self._read_exactly(size)
        return EslMessage(headers, body)

    def _read_buffered_head(self) -> Optional[str]:
        """A frame's header block taken from the read buffer in one piece, when the buffer
        holds all of it as the switch writes it (``\n`` line ends, within the limits); None
        to read it line by line instead, with nothing consumed.

        Why: reading a block line by line is a Python round per line, and the connect reply
        carries every channel variable as a header line, a hundred or more on a real call."""
        buffered = self.sock_file.peek(1)    # what the buffer holds; one read when it is empty
        end = buffered.find(b"\n\n")
        if end <= 0 or buffered[0] == 13 or buffered[0] == 10:
            return None
        size = end + 1                       # the block's lines, each with its line end
        limits = self.limits
        if size > limits.max_header_bytes or b"\r" in buffered[:end]:
            return None
        if buffered.count(b"\n", 0, size) > limits.max_header_lines:
            return None
        return self.sock_file.read(size + 1)[:end].decode("utf-8", "replace")

    def _read_head_by_lines(self) -> Optional[str]:
        limits = self.limits
        header_lines: List[str] = []
        header_bytes = 0
        while True:
            # never more than the block has left (+1 to see that it went over)
            line = self.sock_file.readline(limits.max_header_bytes - header_bytes + 1)
            if not line:
                return None
            if line in (b"\n", b"\r\n"):
                if header_lines:
                    break
                continue
            header_bytes += len(line)
            if header_bytes > limits.max_header_bytes:
                raise FrameTooLarge("a frame's headers passed %d bytes" % limits.max_header_bytes,
                                    "max_header_bytes")
            if len(header_lines) >= limits.max_header_lines:
                raise FrameTooLarge("a frame passed %d header lines" % limits.max_header_lines,
                                    "max_header_lines")
            header_lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        return "\n".join(header_lines)

    def _read_exactly(self, size: int) -> str:
        chunks: List[bytes] = []
        remaining = size
        while remaining:
            chunk = self.sock_file.read(remaining)
            if not chunk:
                raise ProtocolError("stream ended inside a body")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def handle_event(self, message: EslMessage) -> None:
        content_type = message.content_type
        if content_type == "auth/request":
            self._auth_request_event.set()
        elif content_type in REPLY_TYPES:
            if self._commands_sent:
                self._commands_sent.pop(0).set(message)
            else:
                log.warning("esl reply with no command waiting", extra={"esl_peer": self.name})
        elif content_type == "text/event-plain":
            head, _, rest = message.body.partition("\n\n")
            lazy = EventHeaders(head, content_type)
            length = lazy.peek("Content-Length")
            self._queue_event(EslMessage(lazy, rest[: int(length)] if length.isdigit() else rest))
        elif content_type == "text/event-json":
            headers, body = parse_json_event(message.body)
            headers["Content-Type"] = content_type
            self._queue_event(EslMessage(headers, body))
        elif content_type == "text/disconnect-notice":
            if message.headers.get("Content-Disposition") == "linger":
                self._lingering = True
            self._queue_event(message)
        elif content_type == "text/rude-rejection":
            self._auth_request_event.set()
            self._queue_event(message)
        else:
            self._queue_event(message)

    def _queue_event(self, message: EslMessage) -> None:
        """Queue for the dispatching greenlet; a peer that sends events faster than they are
        handled, past ``max_queued_events``, is cut off rather than held in memory. Inline,
        the message is handled here and now (the listener bounds what it keeps)."""
        if self.inline:
            self._safe_exec_handler(self._dispatch, message)
            return
        limit = self.limits.max_queued_events
        if self._esl_event_queue.qsize() >= limit:
            # Reading from a buffer does not yield: a burst fills the queue before the
            # dispatcher runs at all. Let it drain once; only a dispatcher that is stuck
            # (a listener that blocks) leaves the queue full.
            gevent.sleep(0)
            if self._esl_event_queue.qsize() >= limit:
                raise FrameTooLarge("more than %d events received and not yet handled" % limit,
                                    "max_queued_events")
        self._esl_event_queue.put(message)

    def _on_lost(self) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        self.connected = False
        self._run = False
        pending, self._commands_sent = self._commands_sent, []
        for waiter in pending:
            waiter.set_exception(ConnectionLost())
        self._close_socket()
        lost = EslMessage({"Content-Type": CONNECTION_LOST})
        if self.inline:       # every event read before it has been handled already
            self._safe_exec_handler(self._dispatch, lost)
        else:
            self._esl_event_queue.put(lost)

    def process_events(self) -> None:
        """Deliver queued events; unlike greenswitch's loop, this one also drains after a loss.

        It waits for the next message without a timeout, where greenswitch's loop wakes once a
        second to look at a flag: thousands of held calls cost a share of a core doing nothing.
        The wait still ends: ``_on_lost`` (end of stream, a cut-off, a deadline passed, or
        ``close()`` shutting the socket) always queues ``CONNECTION_LOST`` last, and ``close()``
        kills this greenlet within its own bound besides."""
        while True:
            message = self._esl_event_queue.get()
            self._safe_exec_handler(self._dispatch, message)
            if message.content_type == CONNECTION_LOST:
                return

    def _dispatch(self, message: EslMessage) -> None:
        for callback in list(self._listeners):
            callback(message)

    def _safe_exec_handler(self, handler: Callable[[EslMessage], None], event: EslMessage) -> None:
        try:
            handler(event)
        except Exception as exc:  # a broken listener must not stop event delivery
            log.error("esl event handler %s raised %s", getattr(handler, "__name__", "?"),
                      type(exc).__name__, extra={"esl_peer": self.name})
