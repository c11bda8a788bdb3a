"""The agent's leg of an agent-assisted call: the channel a customer's call is bridged to.

``Switch.place_bridged_call`` starts a customer channel already bridged to one of these, outside
any socket, as a call an agent has answered. What FreeSWITCH 1.10 does to it is emulated from
switch_ivr_bridge.c: when its partner is transferred away (``uuid_transfer``), the leg left in
the bridge is parked if it has ``park_after_bridge=true``, else hung up (NORMAL_CLEARING, the
originatee's fate when the bridge ends). ``uuid_broadcast`` plays to it (hold music),
``uuid_break <uuid> all`` stops that, ``uuid_bridge <customer> <agent>`` joins them again.
While bridged both legs name each other in ``bridge_to``, ``bridge_uuid`` and ``signal_bond``;
when the partner is transferred away, ``bridge_to`` and ``signal_bond`` are cleared and
``bridge_uuid`` keeps the old partner (as measured on 1.10.12).

Stay-on-line (eavesdrop.py, docs/stay-on-line.md): ``uuid_transfer <agent> agent_listen`` runs
that extension's plan on the leg; ``eavesdrop <customer>`` makes it hear the customer leg until
that leg hangs up (then the rest of the plan runs: ``hangup``) or is bridged/intercepted back.
For tests the leg keeps what reached the agent: ``dtmf_received`` (DTMF events, forwarded only
while bridged and the customer leg is not ``sensitive_dtmf``), ``tones_heard`` (the caller's
keys as in-band tones, whenever the customer's read audio reaches the agent unmuted),
``prompts_heard`` (prompts played on the customer leg while eavesdropping), and ``heard``.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from gevent.event import Event

from .events import new_uuid
from .record import CallRecord

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from .switch import Switch


def is_agent_leg(leg: object) -> "TypeIs[AgentLeg]":
    """Whether a leg of ``Switch.channels`` is an agent's rather than a call's channel."""
    return getattr(leg, "is_agent_leg", False)


class AgentLeg:
    is_agent_leg = True

    def __init__(self, switch: "Switch", extension: str = "1001"):
        self.switch = switch
        self.uuid = new_uuid()
        self.extension = extension
        self.name = "sofia/internal/%s@127.0.0.1" % extension
        self.state = "answered"
        self.variables = {"direction": "outbound", "uuid": self.uuid, "channel_name": self.name,
                          "call_uuid": self.uuid}
        self.record = CallRecord(uuid=self.uuid, destination=extension, caller_id_number=extension)
        self.recordings: Dict[str, str] = {}
        self.created_us = int(time.time() * 1_000_000)
        self.bridged_to: Optional[str] = None   # the uuid of the leg it is bridged with now
        self.parked = False
        self.playing: Optional[str] = None      # what uuid_broadcast is playing to it
        self.heard: List[Tuple[float, str, str]] = []   # (t, what, detail) for assertions
        self.hangup_cause: Optional[str] = None
        self.eavesdropping: Optional[str] = None   # the customer leg it listens to now
        self.dtmf_received: List[Tuple[float, str]] = []
        self.tones_heard: List[Tuple[float, str]] = []
        self.prompts_heard: List[Tuple[float, str]] = []
        self._plan_rest: List[Tuple[str, str]] = []
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

    def bridge_with(self, other_uuid: str, intercepted: bool = False) -> None:
        """uuid_bridge or intercept: it leaves eavesdrop or park (the plan's rest is not run)."""
        if self.eavesdropping:
            self._note("eavesdrop ended", "bridged")
        self.bridged_to, self.parked, self.eavesdropping = other_uuid, False, None
        self._plan_rest = []
        self.set_var("bridge_to", other_uuid)
        self.set_var("bridge_uuid", other_uuid)
        self.set_var("signal_bond", other_uuid)
        self._note("intercepted" if intercepted else "bridged", other_uuid)

    # -- what reaches the agent ---------------------------------------------------------------
    def hear_key(self, digit: str, as_event: bool, as_tone: bool) -> None:
        t = self.record.elapsed()
        if as_event:
            self.dtmf_received.append((t, digit))
        if as_tone:
            self.tones_heard.append((t, digit))

    def hear_prompt(self, what: str) -> None:
        self.prompts_heard.append((self.record.elapsed(), what))

    @property
    def listened_in(self) -> bool:
        """Whether this leg ever eavesdropped on a caller (stay-on-line mode)."""
        return any(what == "eavesdrop" for _, what, _ in self.heard)

    # -- uuid_transfer into an extension (agent_listen) -------------------------------------
    def transfer_now(self, extension: str, dialplan: str = "XML", context: str = "default") -> None:
        if not self.up:
            return
        self._note("transferred", "%s %s %s" % (extension, dialplan, context))
        self.bridged_to, self.parked = None, False
        from .dialplan import routed
        self._run_plan(routed(self.switch.extensions.get(extension, [("park", "")]), self.variables))

    def _run_plan(self, plan) -> None:
        from .eavesdrop import expand
        while plan and self.up:
            name, arg = plan.pop(0)
            arg = expand(self.switch, self.variables, arg)
            if name == "eavesdrop":
                target = self.switch.channels.get(arg.strip())
                if target is not None and target.up and not is_agent_leg(target):
                    self.eavesdropping, self._plan_rest = target.uuid, plan
                    self._note("eavesdrop", target.uuid)
                    return
            elif name == "hangup":
                self.hangup(arg.strip() or "NORMAL_CLEARING", by="switch")
            elif name == "park":
                self.parked = True
                self._note("parked")
                return
            elif name == "set":
                key, _, value = arg.partition("=")
                self.set_var(key.strip(), value)
            elif name == "unset":
                self.unset_var(arg.strip())

    def customer_gone(self, customer_uuid: str) -> None:
        """The leg it eavesdrops on, or is bridged to, hung up."""
        if self.eavesdropping == customer_uuid:
            self.eavesdropping = None
            self._note("eavesdrop ended", "customer gone")
            rest, self._plan_rest = self._plan_rest, []
            self._run_plan(rest)
        elif self.bridged_to == customer_uuid and self.up:
            self.bridged_to = None
            self.hangup("NORMAL_CLEARING", by="switch")

    def partner_left(self, other_uuid: str) -> None:
        """The other leg was transferred out of the bridge."""
        if self.bridged_to != other_uuid or not self.up:
            return
        self.bridged_to = None
        self.unset_var("bridge_to")
        self.unset_var("signal_bond")
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
        self.eavesdropping = None
        self._note("hangup", "%s by %s" % (cause, by))
        self.switch.channel_gone(self)
        partner = self.switch.channels.get(self.bridged_to or "")
        if partner is not None and hasattr(partner, "agent_gone"):
            partner.agent_gone(self.uuid)   # e.g. ends the caller's intercept
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
