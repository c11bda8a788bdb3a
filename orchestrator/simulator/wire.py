"""ESL framing as mod_event_socket writes and reads it.

Kept apart from the call logic so that every byte the simulator puts on a socket is
shaped in one place, with FreeSWITCH's quirks (URL-encoded event values, the
connect reply that is itself a serialized event, bodies counted in bytes).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence, Tuple
from urllib.parse import quote
from xml.sax.saxutils import escape

import gevent

Headers = List[Tuple[str, str]]

# switch_utils.h SWITCH_URL_UNSAFE: the characters switch_url_encode escapes besides
# control and non-ASCII bytes.
_URL_UNSAFE = set(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = "0123456789ABCDEF"
_HEX_BYTES = set(b"0123456789ABCDEF")


# What switch_url_encode leaves as it is: printable ASCII that is not unsafe. A value of only
# these (most of them) is returned untouched; the others are encoded a run at a time.
_KEPT = "".join(chr(b) for b in range(0x20, 0x7F) if b not in _URL_UNSAFE)
_NEEDS_ENCODING = re.compile("[^%s]" % re.escape(_KEPT))
_ESCAPE = re.compile("%[0-9A-F]{2}")


_ENCODED: dict = {}          # value -> url_encode(value), for the values events repeat
_ENCODED_KEPT = 4096         # emptied when full: a bound, not a policy


def url_encode(value: str) -> str:
    """Encode like switch_url_encode: an existing %XX escape is left alone (no double encoding).

    The simulator encodes every value of every event it sends, so the common cases are quick:
    nothing to encode, an encoding already made (a channel's name, its caller's, this second's
    date repeat in every event), or ``quote`` (in C-backed tables) around the escapes already
    there. ``url_encode_bytewise`` is the reference it must agree with."""
    if not _NEEDS_ENCODING.search(value):
        return value
    known = _ENCODED.get(value)
    if known is not None:
        return known
    if len(_ENCODED) >= _ENCODED_KEPT:
        _ENCODED.clear()
    encoded = _ENCODED[value] = _encode(value)
    return encoded


def _encode(value: str) -> str:
    if "%" not in value:
        return quote(value, safe=_KEPT)
    out = []
    at = 0
    for kept in _ESCAPE.finditer(value):
        out.append(quote(value[at:kept.start()], safe=_KEPT))
        out.append(kept.group())
        at = kept.end()
    out.append(quote(value[at:], safe=_KEPT))
    return "".join(out)


def url_encode_bytewise(value: str) -> str:
    """switch_url_encode byte by byte, as it is written in C: the reference of ``url_encode``."""
    raw = value.encode("utf-8")
    out = []
    n = len(raw)
    for i, b in enumerate(raw):
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEX_BYTES and raw[i + 2] in _HEX_BYTES:
            out.append("%")
        elif b < 0x20 or b > 0x7E or b in _URL_UNSAFE:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 0x0F])
        else:
            out.append(chr(b))
    return "".join(out)


def message(headers: Sequence[Tuple[str, str]], body: Optional[str] = None) -> bytes:
    """A plain ESL message: header lines, a blank line, then the body if any.

    Content-Length is added (counted in bytes) whenever there is a body, and goes
    before the other headers' end like FreeSWITCH puts it in api/response.
    """
    payload = body.encode("utf-8") if body else b""
    lines = [f"{name}: {value}\n" for name, value in headers]
    if payload and not any(name.lower() == "content-length" for name, _ in headers):
        lines.append(f"Content-Length: {len(payload)}\n")
    return ("".join(lines) + "\n").encode("utf-8") + payload


def command_reply(reply_text: str, extra: Iterable[Tuple[str, str]] = ()) -> bytes:
    return message([("Content-Type", "command/reply"), ("Reply-Text", reply_text), *extra])


def api_response(text: str) -> bytes:
    payload = text.encode("utf-8") or b"-ERR no reply\n"
    head = f"Content-Type: api/response\nContent-Length: {len(payload)}\n\n".encode("utf-8")
    return head + payload


def disconnect_notice(body: str, headers: Sequence[Tuple[str, str]] = ()) -> bytes:
    payload = body.encode("utf-8")
    head = "Content-Type: text/disconnect-notice\n"
    head += "".join(f"{k}: {v}\n" for k, v in headers)
    head += f"Content-Length: {len(payload)}\n\n"
    return head.encode("utf-8") + payload


def serialize_plain(headers: Sequence[Tuple[str, str]], body: Optional[str] = None) -> str:
    """switch_event_serialize(..., encode=TRUE): values URL-encoded, empty ones as _undef_."""
    lines = [f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in headers]
    text = "".join(lines)
    if body:
        text += f"Content-Length: {len(body.encode('utf-8'))}\n\n{body}"
    else:
        text += "\n"
    return text


def serialize_json(headers: Sequence[Tuple[str, str]], body: Optional[str] = None) -> str:
    obj = {}
    for name, value in headers:
        obj[name] = value
    if body:
        obj["Content-Length"] = str(len(body.encode("utf-8")))
        obj["_body"] = body
    return json.dumps(obj, separators=(",", ":"))


def serialize_xml(headers: Sequence[Tuple[str, str]], body: Optional[str] = None) -> str:
    parts = ["<event>\n  <headers>\n"]
    for name, value in headers:
        parts.append(f"    <{name}>{escape(url_encode(value))}</{name}>\n")
    parts.append("  </headers>\n")
    if body:
        parts.append(f"  <body>{escape(body)}</body>\n")
    parts.append("</event>")
    return "".join(parts)


_SERIALIZERS = {"plain": serialize_plain, "json": serialize_json, "xml": serialize_xml}


def event_message(headers: Sequence[Tuple[str, str]], body: Optional[str], fmt: str) -> bytes:
    payload = _SERIALIZERS[fmt](headers, body).encode("utf-8")
    head = f"Content-Length: {len(payload)}\nContent-Type: text/event-{fmt}\n\n".encode("utf-8")
    return head + payload


@dataclass
class Command:
    """One command as mod_event_socket's read_packet splits it."""

    line: str
    headers: dict = field(default_factory=dict)  # lower-cased names
    body: str = ""
    raw: str = ""

    @property
    def name(self) -> str:
        return self.line.split(" ", 1)[0].lower() if self.line else ""

    @property
    def arg(self) -> str:
        parts = self.line.split(" ", 1)
        return parts[1].strip() if len(parts) > 1 else ""


class ConnectionClosed(Exception):
    """The peer closed the socket (or it broke) while a command was being read."""


class CommandReader:
    """Reads commands off a gevent socket; blank lines between commands are skipped."""

    def __init__(self, sock):
        self._sock = sock
        self._buf = b""

    def _fill(self) -> None:
        try:
            data = self._sock.recv(65536)
        except OSError as exc:
            raise ConnectionClosed(str(exc)) from exc
        if not data:
            raise ConnectionClosed("peer closed the socket")
        self._buf += data

    def read(self, timeout: Optional[float] = None) -> Command:
        """Next command; gevent.Timeout if none complete within ``timeout`` seconds."""
        with gevent.Timeout(timeout):
            while True:
                self._buf = self._buf.lstrip(b"\r\n")
                end = self._find_end()
                if end is not None:
                    break
                self._fill()
            head, self._buf = self._buf[:end[0]], self._buf[end[1]:]
            lines = head.decode("utf-8", "replace").replace("\r", "").split("\n")
            cmd = Command(line=lines[0].strip())
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    cmd.headers[name.strip().lower()] = value.lstrip(" ")
            raw = head + b"\n\n"
            length = int(cmd.headers.get("content-length", "0") or 0)
            if length > 0:
                while len(self._buf) < length:
                    self._fill()
                payload, self._buf = self._buf[:length], self._buf[length:]
                cmd.body = payload.decode("utf-8", "replace")
                raw += payload
            cmd.raw = raw.decode("utf-8", "replace")
            return cmd

    def _find_end(self) -> Optional[Tuple[int, int]]:
        for sep in (b"\n\n", b"\r\n\r\n"):
            idx = self._buf.find(sep)
            if idx >= 0:
                return idx, idx + len(sep)
        return None


def now() -> float:
    return time.monotonic()
