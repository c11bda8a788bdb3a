"""The outbound side: the dialplan's `socket host:port async full` dialling the orchestrator.

The switch speaks second: it waits for `connect` (25 s, then gives up), answers with the
channel data as a serialized CHANNEL_DATA event, and from then on is driven by the
orchestrator. When the channel goes down it sends `text/disconnect-notice`
(`Content-Disposition: linger` and keeps talking if `linger` was asked for, otherwise
`disconnect` and closes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import gevent
import gevent.socket

from ..tcp import no_delay   # as the real switch has it: without, events waited 40 ms
from .events import MYEVENTS
from .listener import GOODBYE, Listener
from .wire import Command, disconnect_notice, serialize_plain

if TYPE_CHECKING:
    from .channel import SimChannel

CONNECT_TIMEOUT = 25.0      # FreeSWITCH drops an outbound socket that stays silent this long
DEFAULT_LINGER = -1         # `linger` without a number: until the client says `exit`
MAX_LINGER = 600.0          # a bound for "forever", so a test cannot leak a socket


class OutboundSession(Listener):
    outbound = True

    def __init__(self, channel: "SimChannel", sock, full: bool = True, async_: bool = True, faults=None):
        super().__init__(channel.switch, sock, faults, transcript=channel.note_wire)
        self.channel = channel
        self.full = full
        self.async_ = async_
        self.session_uuid: str = channel.uuid
        self.connected = False
        self.linger: Optional[float] = None     # None: no linger; -1: until exit
        self.lingering = False

    def read_timeout(self) -> Optional[float]:
        return None if self.commands_seen else CONNECT_TIMEOUT

    def on_read_timeout(self) -> None:
        self.finish(self.goodbye_notice())

    def session_command(self, cmd: Command) -> bool:
        name = cmd.name
        if name == "resume":
            self.channel.set_var("socket_resume", "true")
            self.reply("+OK")
        elif name == "connect":
            self.connected = True
            headers = self.channel.event_headers("CHANNEL_DATA", calling=("mod_event_socket.c", "parse_command", 2030))
            headers += [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"),
                        ("Socket-Mode", "async" if self.async_ else "static"),
                        ("Control", "full" if self.full else "single-channel")]
            self.send(serialize_plain(headers).encode("utf-8"))
            self.channel.on_connected()
        elif name == "getvar":
            # mod_event_socket answers an unset (or empty) variable as an unknown command
            self.reply(self.channel.variables.get(cmd.arg) or "-ERR command not found")
        elif name == "myevents":
            if self.myevents_uuid:
                self.reply("-ERR aready enabled.")
                return True
            self.myevents_uuid = self.session_uuid
            self.event_names |= MYEVENTS
            self.events_on = True
            lowered = cmd.line.lower()
            if "xml" in lowered:
                self.format = "xml"
            if "json" in lowered:
                self.format = "json"
            self.reply("+OK Events Enabled")
        else:
            return False
        return True

    def _divert(self, arg: str) -> str:
        if not arg:
            return "-ERR missing value."
        return "+OK events diverted" if arg.lower() == "on" else "+OK events not diverted"

    def linger_command(self, cmd: Command) -> str:
        if cmd.name == "nolinger":
            self.linger = None
            return "+OK will not linger"
        rest = cmd.line[6:]
        if rest.startswith(" ") and rest[1:].strip():
            try:
                seconds = int(rest[1:].strip())
            except ValueError:
                seconds = 0
            self.linger = seconds
            return f"+OK will linger {seconds} seconds"
        self.linger = DEFAULT_LINGER
        return "+OK will linger"

    def goodbye_notice(self) -> bytes:
        return disconnect_notice(GOODBYE, [("Controlled-Session-UUID", self.session_uuid),
                                           ("Content-Disposition", "disconnect")])

    # ---- driven by the channel ----------------------------------------------
    def channel_down(self) -> None:
        """The channel hung up: linger or say goodbye (after the CHANNEL_HANGUP already queued)."""
        if self.closing or self.closed.is_set():
            return
        if self.linger is None:
            self.finish(self.goodbye_notice())
            return
        self.lingering = True
        self.send(disconnect_notice("", [("Controlled-Session-UUID", self.session_uuid),
                                         ("Content-Disposition", "linger"),
                                         ("Channel-Name", self.channel.name),
                                         ("Linger-Time", str(int(self.linger)))]))
        wait = MAX_LINGER if self.linger < 0 else float(self.linger)
        self.add_timer(wait, self._linger_over)

    def _linger_over(self) -> None:
        self.finish(self.goodbye_notice())

    def on_closed(self) -> None:
        self.channel.on_socket_closed(self)


def dial(address, timeout: float = 5.0):
    """Open the TCP connection the `socket` application opens; None when unreachable.

    An address literal (what the dialplan's ``socket`` names) is connected to directly: a
    name lookup, even of a literal, goes through gevent's thread pool, a thread hand-off each
    way for every call placed."""
    host, port = address[0], int(address[1])
    family = _literal_family(host)
    if family is None:
        try:
            return no_delay(gevent.socket.create_connection((host, port), timeout=timeout))
        except OSError:
            return None
    sock = gevent.socket.socket(family, gevent.socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        return no_delay(sock)
    except OSError:
        sock.close()
        return None



def _literal_family(host: str):
    """AF_INET or AF_INET6 for an address literal, None for a name."""
    for family in (gevent.socket.AF_INET, gevent.socket.AF_INET6):
        try:
            gevent.socket.inet_pton(family, host)
            return family
        except (OSError, ValueError):
            continue
    return None
