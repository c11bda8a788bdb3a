"""FreeSWITCH API commands on any leg, as the engine's ``Switch`` verbs.

The one place, with ``esl/channel.py``, that holds FreeSWITCH command text and reads its
replies. The same commands go over either kind of socket: the agent API sends them on a
node's inbound connection, a flow sends them on its call's own outbound socket (``api`` works
there with ``async full``). ``SwitchCommands`` takes the socket as an ``api`` function that
sends one line and returns the reply text, raising ``CommandFailed`` on ``-ERR``; everything
above gets values or the errors of ``orchestrator.engine.channel``, never reply text.

Every argument is checked before it is written into a command line: uuids are uuids,
variable names are names, and a value may not hold a line break, ``${`` (FreeSWITCH expands
it), or in ``uuid_setvar_multi`` the ``;`` and ``=`` that separate its pairs. A value that
breaks the rule raises ``ValueError``: it is our bug or a peer's hostile text, and never
reaches the switch.
"""
from __future__ import annotations

import json
import re
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from orchestrator.engine.channel import CommandFailed

ApiFunction = Callable[[str], str]

_UUID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_WORD = re.compile(r"^[A-Za-z0-9_.+@:/-]{1,128}$")
_KEYS = re.compile(r"^[0-9*#A-Da-d]{1,32}$")
_CAUSE = re.compile(r"^[A-Z_]{1,64}$")
UNSET = "_undef_"   # what uuid_getvar answers for a variable that is not set


class Leg(NamedTuple):
    """A channel as ``show channels`` lists it: its uuid, since when (epoch seconds), and
    the caller id number it carries."""

    uuid: str
    created: float
    caller: str


def check_uuid(value: str) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        raise ValueError("not a channel uuid")
    return value


def check_name(value: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError("not a variable name: %r" % (value,))
    return value


def check_word(value: str, what: str) -> str:
    """A single token of a command line: an extension, a context, a path."""
    if not isinstance(value, str) or not _WORD.match(value):
        raise ValueError("%s must be one word of letters, digits and _.+@:/-" % what)
    return value


def check_value(value: str, what: str = "value", separators: str = "") -> str:
    """A value that FreeSWITCH can neither expand nor split: one line, no ``${``, none of
    ``separators``."""
    text = str(value)
    if any(c in text for c in "\r\n\x00") or "${" in text or "$${" in text:
        raise ValueError("%s must be one line without ${" % what)
    if any(c in text for c in separators):
        raise ValueError("%s must not hold any of %r" % (what, separators))
    return text


def setting_commands(uuid: str, pairs: Sequence[Tuple[str, str]]) -> List[str]:
    """The api commands that set ``pairs`` on a leg: one ``uuid_setvar_multi`` for the values
    free of its separators (``;``, ``=``), a ``uuid_setvar`` for each other value (and for a
    lone pair). Each value is checked as every value is."""
    together = [(n, str(v)) for n, v in pairs if not any(c in str(v) for c in ";=")]
    alone = [(n, str(v)) for n, v in pairs if any(c in str(v) for c in ";=")]
    if len(together) == 1:
        alone.insert(0, together.pop())
    lines = []
    if together:
        lines.append("uuid_setvar_multi %s %s" % (check_uuid(uuid), ";".join(
            "%s=%s" % (check_name(n), check_value(v, n, ";=")) for n, v in together)))
    lines += ["uuid_setvar %s %s %s" % (check_uuid(uuid), check_name(n), check_value(v, n))
              for n, v in alone]
    return lines


class SwitchCommands:
    """The engine's ``Switch`` over one socket. ``node_key`` names the switch (caches)."""

    def __init__(self, api: ApiFunction, node_key: str) -> None:
        self._api = api
        self._node_key = node_key

    @property
    def node_key(self) -> str:
        return self._node_key

    # -- replies ---------------------------------------------------------------------------
    def _ok(self, command: str) -> str:
        reply = self._api(command).strip()
        if not reply.startswith("+OK"):
            raise CommandFailed("%s refused: %s" % (command.split(" ", 1)[0], reply[:80]))
        return reply

    def _boolean(self, command: str) -> bool:
        reply = self._api(command).strip()
        if reply not in ("true", "false"):
            raise CommandFailed("%s answered %r" % (command.split(" ", 1)[0], reply[:40]))
        return reply == "true"

    # -- legs ------------------------------------------------------------------------------
    def leg_exists(self, uuid: str) -> bool:
        return self._boolean("uuid_exists %s" % check_uuid(uuid))

    def legs(self) -> List[Leg]:
        """Every channel up on the switch: ``show channels as json`` (the JSON form, because
        the plain one is comma-separated and a caller's name may hold a comma). A row whose
        uuid is not a uuid is skipped: nothing of another shape reaches a later command."""
        reply = self._api("show channels as json").strip()
        try:
            rows = json.loads(reply).get("rows") or []
        except (ValueError, AttributeError):
            raise CommandFailed("show channels answered %r" % reply[:40])
        legs = []
        for row in rows if isinstance(rows, list) else []:
            uuid = row.get("uuid") if isinstance(row, dict) else None
            if not isinstance(uuid, str) or not _UUID.match(uuid):
                continue
            try:
                created = float(row.get("created_epoch") or 0)
            except (TypeError, ValueError):
                created = 0.0
            legs.append(Leg(uuid, created, str(row.get("cid_num") or "")))
        return legs

    def get_variable(self, uuid: str, name: str) -> Optional[str]:
        reply = self._api("uuid_getvar %s %s" % (check_uuid(uuid), check_name(name)))
        value = reply.rstrip("\n")
        return None if value in ("", UNSET) else value

    def set_variable(self, uuid: str, name: str, value: str) -> None:
        self._ok("uuid_setvar %s %s %s" % (check_uuid(uuid), check_name(name),
                                            check_value(value, name)))

    def clear_variable(self, uuid: str, name: str) -> None:
        self._ok("uuid_setvar %s %s" % (check_uuid(uuid), check_name(name)))

    def set_variables(self, uuid: str, pairs: Sequence[Tuple[str, str]]) -> None:
        text = ";".join("%s=%s" % (check_name(name), check_value(value, name, ";="))
                        for name, value in pairs)
        self._ok("uuid_setvar_multi %s %s" % (check_uuid(uuid), text))

    def transfer(self, uuid: str, extension: str, dialplan: str = "XML",
                 context: str = "default") -> None:
        self._ok("uuid_transfer %s %s %s %s" % (check_uuid(uuid), check_word(extension, "extension"),
                                                 check_word(dialplan, "dialplan"),
                                                 check_word(context, "context")))

    def bridge(self, uuid: str, other: str) -> None:
        self._ok("uuid_bridge %s %s" % (check_uuid(uuid), check_uuid(other)))

    def hang_up(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        if not _CAUSE.match(cause):
            raise ValueError("not a hangup cause")
        self._ok("uuid_kill %s %s" % (check_uuid(uuid), cause))

    # -- media -----------------------------------------------------------------------------
    def stop_media(self, uuid: str) -> None:
        self._ok("uuid_break %s all" % check_uuid(uuid))

    def play_to_leg(self, uuid: str, path: str) -> None:
        self._ok("uuid_broadcast %s %s aleg" % (check_uuid(uuid), check_value(path, "path", " ")))

    def pause_recording(self, uuid: str, path: str) -> None:
        self._ok("uuid_record %s pause %s" % (check_uuid(uuid), check_value(path, "path", " ")))

    def resume_recording(self, uuid: str, path: str) -> None:
        self._ok("uuid_record %s resume %s" % (check_uuid(uuid), check_value(path, "path", " ")))

    def mute_toward_listener(self, uuid: str) -> None:
        # the level is required: without it uuid_audio answers -USAGE (seen on 1.10.12)
        self._ok("uuid_audio %s start read mute 1" % check_uuid(uuid))

    def unmute_toward_listener(self, uuid: str) -> None:
        self._ok("uuid_audio %s stop" % check_uuid(uuid))

    # -- keys ------------------------------------------------------------------------------
    def receive_keys(self, uuid: str, keys: str) -> None:
        if not _KEYS.match(keys):
            raise ValueError("keys must be 0-9, *, #, A-D")
        self._ok("uuid_recv_dtmf %s %s" % (check_uuid(uuid), keys))

    def flush_keys(self, uuid: str) -> None:
        self._ok("uuid_flush_dtmf %s" % check_uuid(uuid))

    # -- the switch's host -----------------------------------------------------------------
    def file_exists(self, path: str) -> bool:
        return self._boolean("file_exists %s" % check_value(path, "path", " "))
