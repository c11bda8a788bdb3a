"""ESL transcripts: what crossed an Event Socket, one message a line, with card digits masked.

A transcript is JSON Lines, so it diffs line by line and a test reads it with ``json.loads``.
Every line is one record::

    {"t": 0.000, "conn": 0, "dir": "meta", ...}            where and when it was recorded
    {"t": 0.012, "conn": 1, "dir": "open", "peer": "127.0.0.1:40112"}
    {"t": 0.013, "conn": 1, "dir": "c2s", "raw": "connect\\n\\n"}
    {"t": 0.015, "conn": 1, "dir": "s2c", "raw": "Event-Name: CHANNEL_DATA\\n..."}
    {"t": 9.870, "conn": 1, "dir": "close", "by": "switch"}
    {"t": 1.500, "conn": 0, "dir": "note", "text": "caller presses 5"}

``c2s`` is what the ESL client (the orchestrator, or an inbound client) sent the switch;
``s2c`` what the switch sent back. ``raw`` is one whole ESL message exactly as framed on the
wire (headers, blank line, body), after masking.

Masking keeps every length, so Content-Length still counts the body of a masked message:

* runs of 7 or more digits become ``X`` (a card number, an account number), except inside a
  UUID and in the headers that only ever hold clock readings or counters;
* the whole value of a header that carries keyed digits becomes ``X``: ``DTMF-Digit``, and
  the variables in the mask list (``digits_dialed`` and the card fields by default, plus
  whatever ``play_and_get_digits`` variables the recording's user names).
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Tuple

MIN_MASKED_RUN = 7
DIGIT_HEADERS = ("DTMF-Digit",)
DEFAULT_MASKED_VARIABLES = ("digits_dialed", "pay_card_number", "pay_security_code", "pay_expiry")
# Headers FreeSWITCH fills with clock readings, sequence numbers and byte counts only.
_CLOCK_HEADER = re.compile(
    r"^(Event-Date-Timestamp|Event-Sequence|Content-Length|Linger-Time|"
    r"(Channel|Caller|Other-Leg|Other-Type)-[A-Za-z-]*-Time|Caller-Profile-Created-Time)$")
_UUID_OR_RUN = re.compile(
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(\d{%d,})" % MIN_MASKED_RUN)
_HEADER_LINE = re.compile(r"^([A-Za-z0-9_.-]+)(: ?)(.*)$")
_JSON_PAIR = re.compile(r'"([A-Za-z0-9_.-]+)":"((?:[^"\\]|\\.)*)"')


def _blank(text: str) -> str:
    return "X" * len(text)


def _mask_runs(text: str) -> str:
    return _UUID_OR_RUN.sub(lambda m: m.group(1) or _blank(m.group(2)), text)


class Masker:
    """Masks a message's text without changing its length; see the module docstring."""

    def __init__(self, masked_variables: Iterable[str] = DEFAULT_MASKED_VARIABLES) -> None:
        names = {h.lower() for h in DIGIT_HEADERS}
        for variable in masked_variables:
            names.add(variable.lower())
            names.add("variable_%s" % variable.lower())
        self._whole_value = frozenset(names)

    def _value_is_secret(self, name: str) -> bool:
        return name.lower() in self._whole_value

    def mask(self, text: str) -> str:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            match = _HEADER_LINE.match(line)
            if match is None:
                lines[i] = self._mask_json(line)
                continue
            name, sep, value = match.groups()
            if self._value_is_secret(name):
                lines[i] = name + sep + _blank(value)
            elif not _CLOCK_HEADER.match(name):
                lines[i] = name + sep + _mask_runs(value)
        return "\n".join(lines)

    def _mask_json(self, line: str) -> str:
        if '":"' not in line:
            return _mask_runs(line)

        def pair(match: re.Match[str]) -> str:
            name, value = match.groups()
            if self._value_is_secret(name):
                value = _blank(value)
            elif not _CLOCK_HEADER.match(name):
                value = _mask_runs(value)
            return '"%s":"%s"' % (name, value)

        return _JSON_PAIR.sub(pair, line)


class Framer:
    """Cuts a byte stream into whole ESL messages: a header block, then Content-Length bytes."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> List[bytes]:
        self._buf += data
        out: List[bytes] = []
        while True:
            stripped = self._buf.lstrip(b"\r\n")
            end = stripped.find(b"\n\n")
            if end < 0:
                return out
            head = stripped[:end]
            length = 0
            for line in head.split(b"\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            total = end + 2 + length
            if len(stripped) < total:
                return out
            out.append(stripped[:total])
            self._buf = stripped[total:]

    def rest(self) -> bytes:
        """Bytes of a message the stream ended in the middle of."""
        rest, self._buf = self._buf.strip(b"\r\n"), b""
        return rest


def read_transcript(path: str) -> List[Dict[str, Any]]:
    """Every record of a transcript file, in order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def parse_message(raw: str) -> Tuple[List[Tuple[str, str]], str]:
    """(envelope headers, body) of a raw message; header values are left URL-encoded."""
    head, _, body = raw.partition("\n\n")
    headers: List[Tuple[str, str]] = []
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return headers, body
