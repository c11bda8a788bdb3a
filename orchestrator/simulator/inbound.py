"""Inbound connections: a client dials the switch's event socket (port 8021 on a real box).

Before `auth`, everything but `auth` and `exit` is refused; a wrong password gets
`-ERR invalid` and the socket is closed, like mod_event_socket does.
"""
from __future__ import annotations

from typing import Optional

from .events import MYEVENTS
from .listener import GOODBYE, Listener
from .wire import Command, disconnect_notice, message

AUTH_TIMEOUT = 25.0  # read_packet(listener, &event, 25) before authentication


class InboundListener(Listener):
    def __init__(self, switch, sock, faults=None):
        super().__init__(switch, sock, faults)
        self.authed = False

    def on_open(self) -> None:
        self.send(message([("Content-Type", "auth/request")]))

    def read_timeout(self) -> Optional[float]:
        return None if self.authed else AUTH_TIMEOUT

    def on_read_timeout(self) -> None:
        self.finish(self.goodbye_notice())

    def dispatch(self, cmd: Command) -> None:
        if self.authed:
            if cmd.name in ("api", "bgapi"):
                self.switch.inbound_commands.append(cmd.arg)
            super().dispatch(cmd)
            return
        if cmd.name == "exit" or cmd.line.startswith("..."):
            self.reply("+OK bye")
            self.finish(self.goodbye_notice())
        elif cmd.line[:5].lower() == "auth ":
            if cmd.line[5:].rstrip("\r\n") == self.switch.password:
                self.authed = True
                self.reply("+OK accepted")
            else:
                self.reply("-ERR invalid")
                self.finish(self.goodbye_notice())
        else:
            self.reply("-ERR command not found")

    def session_command(self, cmd: Command) -> bool:
        # Without a session only `myevents <uuid> [format]` is understood here.
        if cmd.name != "myevents" or not cmd.arg:
            return False
        if self.myevents_uuid:
            self.reply("-ERR aready enabled.")
            return True
        words = cmd.arg.split()
        target = words[0]
        if target not in self.switch.channels and len(words) > 1:
            self.reply("-ERR invalid uuid")
            return True
        if len(words) > 1 and words[1].lower() in ("plain", "json", "xml"):
            self.format = words[1].lower()
        self.myevents_uuid = target
        self.events_on = True
        self.event_names |= MYEVENTS
        self.reply("+OK Events Enabled")
        return True

    def goodbye_notice(self) -> bytes:
        return disconnect_notice(GOODBYE)
