"""The agent's leg of an agent-assisted call: the channel a customer's call is bridged to.

``Switch.place_bridged_call`` starts a customer channel already bridged to one of these, outside
any socket, as a call an agent has answered. What FreeSWITCH 1.10 does to it is emulated from
switch_ivr_bridge.c: when its partner is transferred away (``uuid_transfer``), the leg left in
the bridge is parked if it has ``park_after_bridge=true``, else hung up (NORMAL_CLEARING, the
originatee's fate when the bridge ends). ``uuid_broadcast`` plays to it (hold music),
``uuid_break <uuid> all`` stops that, ``uuid_bridge <customer> <agent>`` joins them again.
Both legs keep ``bridge_uuid`` and ``signal_bond`` naming each other, as after ``bridge``.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, List, Optional, Tuple

from gevent.event import Event

from .events import new_uuid
from .record import CallRecord

if TYPE_CHECKING:
    from .switch import Switch


class AgentLeg:
    def __init__(self, switch: "Switch", extension: str = "1001"):
        self.switch = switch
        self.uuid = new_uuid()
        self.extension = extension
        self.name = "sofia/internal/%s@127.0.0.1" % extension
        self.state = "answered"
        self.variables = {"direction": "outbound", "uuid": self.uuid, "channel_name": self.name,
                          "call_uuid": self.uuid}
        self.record = CallRecord(uuid=self.uuid, destination=extension, caller_id_number=extension)
        self.recordings = {}
        self.created_us = int(time.time() * 1_000_000)
        self.bridged_to: Optional[str] = None   # the uuid of the leg it is bridged with now
        self.parked = False
        self.playing: Optional[str] = None      # what uuid_broadcast is playing to it
        self.heard: List[Tuple[float, str, str]] = []   # (t, what, detail) for assertions
        self.hangup_cause: Optional[str] = None
        self.done = Event()
        self.finished = Event()

    @property
    def up(self) -> bool:
        return self.state != "hangup"

    def _note(self, what: str, detail: str = "") -> None:
        self.heard.append((self.record.elapsed(), what, detail))

    def set_var(self, name: str, value: str) -> None:
        self.variables.pop(name, None)
        self.variables[name] = value

    def unset_var(self, name: str) -> None:
        self.variables.pop(name, None)

    def bridge_with(self, other_uuid: str) -> None:
        self.bridged_to, self.parked = other_uuid, False
        self.set_var("bridge_uuid", other_uuid)
        self.set_var("signal_bond", other_uuid)
        self._note("bridged", other_uuid)

    def partner_left(self, other_uuid: str) -> None:
        """The other leg was transferred out of the bridge."""
        if self.bridged_to != other_uuid or not self.up:
            return
        self.bridged_to = None
        self._note("unbridged", other_uuid)
        if (self.variables.get("park_after_bridge") or "").lower() in ("true", "yes", "on", "1"):
            self.parked = True
            self._note("parked")
        else:
            self.hangup("NORMAL_CLEARING", by="switch")

    def broadcast(self, path: str) -> None:
        self.playing = path
        self._note("broadcast", path)

    def break_app(self, flush: bool = False) -> None:
        if self.playing:
            self._note("break", self.playing)
            self.playing = None

    def hangup(self, cause: str = "NORMAL_CLEARING", by: str = "service") -> None:
        if not self.up:
            return
        self.state, self.hangup_cause, self.playing = "hangup", cause, None
        self._note("hangup", "%s by %s" % (cause, by))
        self.switch.channel_gone(self)
        self.done.set()
        self.finished.set()

    def show_row(self, hostname: str) -> str:
        fields = [self.uuid, "outbound", time.strftime("%Y-%m-%d %H:%M:%S"),
                  str(self.created_us // 1_000_000), self.name, "CS_EXECUTE", "Agent", self.extension,
                  "127.0.0.1", self.extension, "park" if self.parked else "", "", "XML", "default",
                  "PCMU", "8000", "64000", "PCMU", "8000", "64000", "", hostname, "", "", "",
                  "ACTIVE", "", "", "", self.uuid, "", "", "Agent", self.extension, "127.0.0.1",
                  self.extension, "XML", "default"]
        return ",".join(fields)
