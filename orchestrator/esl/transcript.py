"""ESL transcripts: what crossed an Event Socket, one message a line, with keyed digits masked.

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

Masking keeps every length, so Content-Length still counts the body of a masked message.
A card field reaches the wire only as keys a caller pressed, and a security code or an expiry
is too short for any scan of digit runs to tell it from a timeout or an amount; so every digit
is masked (``X``) wherever the wire carries keyed input, and only there:

* ``DTMF-Digit``, the whole value: the key itself;
* the values of the channel variables the switch writes keys into (``KEYED_VARIABLES``, plus
  any a site's own reads use, given by the recording's user), in plain, JSON and XML events
  and in ``uuid_dump``-style bodies: ``digits_dialed`` (every key the channel received, for the
  CDR) and ``hangup_cause`` (where ``play_and_get_digits`` put a card field for this service,
  ``orchestrator.esl.channel``, until the switch overwrites it with the cause);
* the part of a command's argument that holds keys, wherever the command is written (an
  ``api``/``bgapi`` line, ``execute-app-arg``, ``Application-Data``,
  ``variable_current_application_data``, ``API-Command-Argument``, ``Job-Command-Arg``): the
  keys of ``uuid_send_dtmf``, ``uuid_recv_dtmf`` and ``send_dtmf``, and what ``set``,
  ``export``, ``multiset``, ``uuid_setvar`` and ``uuid_setvar_multi`` put after the name of a
  keyed variable;
* the answer to a read of a keyed variable: the reply to ``getvar`` or ``api uuid_getvar``
  (matched to its command by ``Conversation``) and the body of its ``BACKGROUND_JOB``.

Letters stay (``hangup_cause: NORMAL_CLEARING`` is readable), and so do percent escapes.
Everywhere else only runs of 7 or more digits are masked (a card number where nobody expected
one), except inside a UUID and in the headers that only ever hold clock readings or counters.
A short field anywhere else is a bug no masking should hide: the raw-wire canary finds it.
"""
from __future__ import annotations

import json
import re
from collections import deque
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import unquote

MIN_MASKED_RUN = 7
# a header whose whole value is one key pressed
KEY_HEADERS = ("DTMF-Digit",)
# channel variables the switch writes keys into: the channel's history of keys (CDR), and the
# variable orchestrator.esl.channel has play_and_get_digits read a card field into
# (SECRET_VARIABLE)
KEYED_VARIABLES = ("digits_dialed", "hangup_cause")
# commands whose argument after the leg's UUID is keys to press on it
KEY_SENDING_COMMANDS = ("uuid_send_dtmf", "uuid_recv_dtmf", "send_dtmf")
# commands that may assign a keyed variable: what follows its name is keyed
ASSIGNING_COMMANDS = ("set", "export", "multiset", "uuid_setvar", "uuid_setvar_multi")
# commands whose answer is a variable's value, keyed when the variable is
READING_COMMANDS = ("uuid_getvar", "getvar")
# header holding a command's argument -> header holding its name, in the same message
COMMAND_OF_ARGUMENT = {
    "execute-app-arg": "execute-app-name",
    "application-data": "application",
    "variable_current_application_data": "variable_current_application",
    "api-command-argument": "api-command",
    "job-command-arg": "job-command",
}
REPLY_TYPES = ("command/reply", "api/response")
# Headers FreeSWITCH fills with clock readings, sequence numbers and byte counts only.
_CLOCK_HEADER = re.compile(
    r"^(Event-Date-Timestamp|Event-Sequence|Content-Length|Linger-Time|"
    r"(Channel|Caller|Other-Leg|Other-Type)-[A-Za-z-]*-Time|Caller-Profile-Created-Time)$")
# a UUID or a percent escape (kept: "%2010000" is a space and a timeout), or a run to mask
_UUID_OR_RUN = re.compile(
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|%%[0-9A-Fa-f]{2})"
    r"|(\d{%d,})" % MIN_MASKED_RUN)
_UUID_PREFIX = re.compile(r"^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12}")
_ESCAPE_OR_DIGIT = re.compile(r"%[0-9A-Fa-f]{2}|\d")
_HEADER_LINE = re.compile(r"^([A-Za-z0-9_.-]+)(: ?)(.*)$")
_JSON_PAIR = re.compile(r'"([A-Za-z0-9_.-]+)"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
_XML_ELEMENT = re.compile(r"<([A-Za-z0-9_.-]+)>([^<]*)</\1>")
_COMMAND_LINE = re.compile(r"^(api|bgapi) +(\S+)( *)(.*)$")


def _blank(text: str) -> str:
    return "X" * len(text)


def _mask_runs(text: str) -> str:
    return _UUID_OR_RUN.sub(lambda m: m.group(1) or _blank(m.group(2)), text)


def _mask_keys(text: str) -> str:
    """Every digit masked; percent escapes (``%23`` for ``#``) left as they are."""
    return _ESCAPE_OR_DIGIT.sub(lambda m: m.group(0) if len(m.group(0)) == 3 else "X", text)


def _split_words(text: str) -> List[str]:
    """Words of a command argument, URL-encoded spaces counting as spaces."""
    return unquote(text).split()


class Masker:
    """Masks one message's text without changing its length; see the module docstring.

    ``masked_variables``: channel variables that hold keys besides ``KEYED_VARIABLES`` (a
    site's own ``play_and_get_digits`` or ``read`` variables)."""

    def __init__(self, masked_variables: Iterable[str] = ()) -> None:
        self.keyed_variables = frozenset(
            v.lower() for v in tuple(KEYED_VARIABLES) + tuple(masked_variables))
        self._key_headers = frozenset(h.lower() for h in KEY_HEADERS)
        self._keyed_headers = frozenset("variable_%s" % v for v in self.keyed_variables)
        assignment = "|".join(re.escape(v) for v in sorted(self.keyed_variables))
        # the name of a keyed variable, then what is assigned to it (the rest of the argument)
        self._assignment = re.compile(
            r"(?i)(?:(?<=%%20)|(?<=%%3D)|(?<![A-Za-z0-9_]))(%s)((?:=|%%3D|%%20| )+)(.*)$" % assignment)

    # -- what a command says -------------------------------------------------------------------
    def reads_keys(self, command: str, argument: str) -> bool:
        """Whether ``command argument`` reads a keyed variable (its answer is then keyed)."""
        words = _split_words(argument)
        return command.lower() in READING_COMMANDS and bool(words) and \
            words[-1].lower() in self.keyed_variables

    def mask_argument(self, command: str, argument: str) -> str:
        """``argument`` of ``command`` with the keys it carries masked (UUIDs left whole)."""
        name = command.strip().lower()
        if name in KEY_SENDING_COMMANDS:
            uuid = _UUID_PREFIX.match(argument)
            keep = uuid.end() if uuid else 0
            return argument[:keep] + _mask_keys(argument[keep:])
        if name in ASSIGNING_COMMANDS:
            uuid = _UUID_PREFIX.match(argument)
            keep = uuid.end() if uuid else 0
            match = self._assignment.search(argument, keep)
            if match:
                return argument[:match.start(3)] + _mask_keys(match.group(3))
        return _mask_runs(argument)

    def command_line_reads_keys(self, first_line: str) -> bool:
        """Whether a client's command (``api uuid_getvar <uuid> hangup_cause``, outbound
        ``getvar hangup_cause``) reads a keyed variable."""
        match = _COMMAND_LINE.match(first_line)
        if match:
            return self.reads_keys(match.group(2), match.group(4))
        word, _, rest = first_line.partition(" ")
        return self.reads_keys(word, rest)

    # -- one value ------------------------------------------------------------------------------
    def mask_value(self, name: str, value: str, headers: Mapping[str, str]) -> str:
        """The value of header ``name``; ``headers`` are the message's others (lower-cased
        names, decoded values), which say what command an argument belongs to."""
        lname = name.lower()
        if lname in self._key_headers:
            return _blank(value)
        if lname in self._keyed_headers or lname in self.keyed_variables:
            return _mask_keys(value)
        if lname in COMMAND_OF_ARGUMENT:
            command = headers.get(COMMAND_OF_ARGUMENT[lname], "")
            return _mask_runs(self.mask_argument(command, value))
        if _CLOCK_HEADER.match(name):
            return value
        return _mask_runs(value)

    def mask_fields(self, fields: Mapping[str, Any]) -> Dict[str, Any]:
        """An event's headers as a mapping (the simulator's record, a decoded JSON event)."""
        headers = {str(k).lower(): str(v) for k, v in fields.items()}
        keyed_body = self._answers_a_keyed_read(headers)
        out: Dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, Mapping):
                out[name] = self.mask_fields(value)
            elif not isinstance(value, str):
                out[name] = value
            elif name == "_body" and keyed_body:
                out[name] = _mask_keys(value)
            else:
                out[name] = self.mask_value(name, value, headers)
        return out

    def _answers_a_keyed_read(self, headers: Mapping[str, str]) -> bool:
        """A BACKGROUND_JOB whose body is the value of a keyed variable."""
        return self.reads_keys(headers.get("job-command", ""), headers.get("job-command-arg", ""))

    # -- one message ----------------------------------------------------------------------------
    def mask(self, text: str, answers_keyed_read: bool = False) -> str:
        """One message. ``answers_keyed_read``: it is the reply to a command that read a keyed
        variable (``Conversation`` knows), so its answer is masked too."""
        lines = text.split("\n")
        headers = self._headers_of(lines)
        keyed_body = answers_keyed_read or self._answers_a_keyed_read(headers)
        for i, line in enumerate(lines):
            command = _COMMAND_LINE.match(line) if i == 0 else None
            if command is not None:
                verb, name, gap, argument = command.groups()
                lines[i] = "%s %s%s%s" % (verb, name, gap, self.mask_argument(name, argument))
                continue
            match = _HEADER_LINE.match(line)
            if match is None:
                plain_body = keyed_body and not (_JSON_PAIR.search(line) or _XML_ELEMENT.search(line))
                lines[i] = _mask_keys(line) if plain_body else self._mask_structured(line, headers)
                continue
            name, sep, value = match.groups()
            if keyed_body and name.lower() == "reply-text":
                lines[i] = name + sep + _mask_keys(value)
            else:
                lines[i] = name + sep + self.mask_value(name, value, headers)
        return "\n".join(lines)

    @staticmethod
    def _headers_of(lines: List[str]) -> Dict[str, str]:
        headers: Dict[str, str] = {}
        for line in lines:
            match = _HEADER_LINE.match(line)
            if match is not None:
                headers.setdefault(match.group(1).lower(), unquote(match.group(3)).strip())
                continue
            for pattern in (_JSON_PAIR, _XML_ELEMENT):
                for pair in pattern.finditer(line):
                    headers.setdefault(pair.group(1).lower(), unquote(pair.groups()[-1]).strip())
        return headers

    def _mask_structured(self, line: str, headers: Mapping[str, str]) -> str:
        """A line of a JSON or XML event (or any other text): pair by pair, then digit runs."""
        def json_pair(match: "re.Match[str]") -> str:
            name, sep, value = match.groups()
            if name == "_body" and self._answers_a_keyed_read(headers):
                return '"%s"%s"%s"' % (name, sep, _mask_keys(value))
            return '"%s"%s"%s"' % (name, sep, self.mask_value(name, value, headers))

        def xml_element(match: "re.Match[str]") -> str:
            name, value = match.groups()
            return "<%s>%s</%s>" % (name, self.mask_value(name, value, headers), name)

        line = _JSON_PAIR.sub(json_pair, line)
        line = _XML_ELEMENT.sub(xml_element, line)
        return _mask_runs(line)


class Conversation:
    """Masks one connection's messages in order, matching each reply to its command.

    Every command a client sends gets exactly one reply (``command/reply`` or
    ``api/response``), in order; the reply to a read of a keyed variable holds keys with no
    header name to tell, so it is masked as keyed input."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._awaiting: Deque[bool] = deque()   # per command sent: does it read keys?

    def mask(self, raw: str, from_switch: bool) -> str:
        if not from_switch:
            first = raw.lstrip("\r\n").split("\n", 1)[0].strip()
            if first:
                self._awaiting.append(self.masker.command_line_reads_keys(first))
            return self.masker.mask(raw)
        keyed = False
        if _content_type(raw) in REPLY_TYPES and self._awaiting:
            keyed = self._awaiting.popleft()
        return self.masker.mask(raw, answers_keyed_read=keyed)


def _content_type(raw: str) -> Optional[str]:
    for line in raw.split("\n"):
        if not line:
            return None
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            return value.strip()
    return None


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
