"""Stay-on-line mode, from entry to restore: the agent keeps listening while the caller keys.

Measured on FreeSWITCH 1.10.12 (docs/stay-on-line.md). The customer's leg (C) leaves its bridge
for the payment socket (``pay_agent`` in the payments context); the agent's leg (A) runs
``eavesdrop`` on it with whisper (``agent_listen``). The agent hears the prompts and, between
fields, the caller; the caller hears the agent throughout. No key reaches the agent:
``sensitive_dtmf`` goes on first, so no DTMF event is forwarded, and C's read audio is muted
around each field, so no in-band tone is heard either. A running recording is paused (not
masked: a mask let buffered tones through on the real switch, see collect_card).

The life of a stay payment, in the order a reader meets it:

1. ``enter`` (the agent API, over the node's inbound connection): the variables and transfers
   below, each with its undo, run in reverse when a later one fails.
2. ``field_muted`` (collect_card, around each field): mute C toward the listener; fail closed.
3. ``agent_gone`` (collect_card, between fields and after a failed attempt): the agent's leg
   was hung up, so the entry ends rather than asking a caller nobody is listening to.
4. ``hand_back`` (transfer_back) or ``leave`` (the agent API's ``complete``): ``restore`` C,
   then, for the agent, bridge C back to A.
5. If the service dies, the dialplan's fallback after ``socket`` undoes it all and intercepts A.

Every command is a ``Switch`` verb: the same mode runs whichever socket carries it.
"""
from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Protocol, Sequence, Tuple

from .channel import CallError, CallGone, Channel, CommandFailed, Switch
from .step_api import StepError

log = logging.getLogger(__name__)

MODE_VARIABLE, MODE = "pay_mode", "stay"
AGENT_LEG_VARIABLE = "pay_agent_uuid"          # on C: the listening agent's leg
CUSTOMER_VARIABLE = "pay_customer_uuid"        # on A: whom it eavesdrops on
RECORDING_VARIABLE = "pay_recording_path"      # on C: a recording to pause during entry
STAY_EXTENSION = ("pay_agent", "XML", "payments")
LISTEN_EXTENSION = ("agent_listen", "XML", "payments")
NOT_A_FLOW = "-"     # a pay_flow naming no flow: the service hands the call straight back
# What entry changed on C that restoring takes back (socket_resume last: it must be gone
# before any bridge, or closing the socket after uuid_bridge resets C and ends every leg).
RESTORED_VARIABLES = ("sensitive_dtmf", "send_silence_when_idle", "socket_resume")


def in_stay_mode(channel: Channel) -> bool:
    return channel.variable(MODE_VARIABLE) == MODE


# -- 1. entering -------------------------------------------------------------------------------

@dataclass
class _Change:
    """One change to a leg and what takes it back."""

    leg: str
    do: Callable[[], None]
    undo: List[Callable[[], None]] = field(default_factory=list)


def enter(switch: Switch, customer: str, agent_leg: str,
          session_variables: Sequence[Tuple[str, str]]) -> None:
    """Put C into the payment socket with A eavesdropping; on a failure undo and re-raise.

    Once C is on its way to the socket, what is undone changes: a pay_flow naming no flow makes
    the service hand the call back at once, and the dialplan's fallback after ``socket``
    restores C and intercepts A (it needs pay_agent_uuid and pay_recording_path, so those stay).
    """
    c, a = customer, agent_leg
    path = switch.get_variable(c, RECORDING_VARIABLE)

    def setting(leg: str, name: str, value: str) -> _Change:
        return _Change(leg, lambda: switch.set_variable(leg, name, value),
                       [lambda: switch.clear_variable(leg, name)])

    changes = [setting(c, "sensitive_dtmf", "true"),    # first: no key is forwarded from here on
               setting(c, AGENT_LEG_VARIABLE, a)]
    if path:
        changes += [_Change(c, lambda: switch.set_variable(c, RECORDING_VARIABLE, path)),
                    _Change(c, lambda: switch.pause_recording(c, path),
                            [lambda: switch.resume_recording(c, path)])]
    changes += [
        setting(c, "send_silence_when_idle", "-1"),    # the whisper reaches C while C is idle
        setting(a, CUSTOMER_VARIABLE, c),
        setting(a, "park_after_bridge", "true"),       # A survives its bridge breaking
        setting(a, "eavesdrop_enable_dtmf", "false"),  # the agent's keys cannot steer the eavesdrop
        setting(a, "eavesdrop_whisper_bleg", "true"),  # the agent's voice goes into C's ear
        _Change(c, lambda: switch.set_variables(c, session_variables),
                [functools.partial(switch.clear_variable, c, name) for name, _ in session_variables]),
    ]
    undo: List[Tuple[str, List[Callable[[], None]]]] = []
    try:
        for change in changes:
            change.do()
            undo.append((change.leg, change.undo))
        switch.transfer(c, *STAY_EXTENSION)                # the customer first
        undo = [(leg, actions) for leg, actions in undo if leg == a]
        undo.append((c, [lambda: switch.clear_variable(c, "pay_session"),
                         lambda: switch.set_variable(c, "pay_flow", NOT_A_FLOW)]))
        switch.transfer(a, *LISTEN_EXTENSION)
    except Exception:
        _run_undo(undo)
        raise
    try:
        switch.clear_variable(a, "park_after_bridge")
    except CallError as exc:
        log.warning("stay mode: park_after_bridge stays set on the agent leg: %s", exc)


def _run_undo(undo: List[Tuple[str, List[Callable[[], None]]]]) -> None:
    for _, actions in reversed(undo):
        for action in actions:
            try:
                action()
            except CallError as exc:
                log.warning("stay mode: an undo step failed: %s", exc)


# -- 2. and 3. during entry -------------------------------------------------------------------------

@contextmanager
def field_muted(channel: Channel) -> Iterator[None]:
    """Around one field: C's read audio muted toward the agent and any recording; unmuted on
    every path. Outside stay mode, nothing. A mute the switch refuses ends the entry: the agent
    would hear the key tones."""
    if not in_stay_mode(channel):
        yield
        return
    try:
        channel.mute_toward_listener()
    except CommandFailed as exc:
        raise StepError("stay mode: the caller's audio could not be muted: %s" % exc)
    try:
        yield
    finally:
        if not channel.gone:
            try:
                channel.unmute_toward_listener()
            except (CommandFailed, CallError) as exc:  # the outcome of the field matters more
                if isinstance(exc, CallGone):
                    raise
                log.warning("stay mode: unmute failed: %s", type(exc).__name__)


def agent_gone(channel: Channel) -> bool:
    """True in stay mode when the agent's leg no longer exists (the agent hung up)."""
    agent = channel.variable(AGENT_LEG_VARIABLE) if in_stay_mode(channel) else None
    if not agent or channel.switch.leg_exists(agent):
        return False
    log.info("stay mode: the agent's leg is gone; card entry ends")
    return True


# -- 4. restoring ------------------------------------------------------------------------------------

class Restorable(Protocol):
    """What restoring needs of C: the call's own ``Channel`` has it, and so does ``LegOnSwitch``."""

    def unmute_toward_listener(self) -> None: ...

    def resume_recording(self, path: str) -> None: ...

    def clear_variable(self, name: str) -> None: ...


class LegOnSwitch:
    """C as the agent API reaches it: by uuid, through a node's ``Switch``."""

    def __init__(self, switch: Switch, uuid: str) -> None:
        self.switch, self.uuid = switch, uuid

    def unmute_toward_listener(self) -> None:
        self.switch.unmute_toward_listener(self.uuid)

    def resume_recording(self, path: str) -> None:
        self.switch.resume_recording(self.uuid, path)

    def clear_variable(self, name: str) -> None:
        self.switch.clear_variable(self.uuid, name)


def restore(leg: Restorable, recording: Optional[str]) -> List[str]:
    """Give C back its usual self: audio unmuted, recording resumed, entry variables cleared.

    Every step is tried whatever the one before it answered: a refused resume must not leave
    ``sensitive_dtmf`` on (the agent would never hear a key again) nor ``socket_resume`` set
    (the bridge back would end every leg). Returns what the switch refused; a call that is
    gone raises ``CallGone``.
    """
    steps: List[Tuple[str, Callable[[], None]]] = [("unmute", leg.unmute_toward_listener)]
    if recording:
        steps.append(("resume the recording", lambda: leg.resume_recording(recording)))
    steps += [("clear " + name, functools.partial(leg.clear_variable, name)) for name in RESTORED_VARIABLES]
    refused = []
    for what, action in steps:
        try:
            action()
        except CallGone:
            raise
        except CallError as exc:
            log.warning("stay mode: %s refused: %s", what, exc)
            refused.append(what)
    return refused


def hand_back(channel: Channel, to_agent: bool) -> bool:
    """The flow's end (transfer_back): restore C; with ``to_agent``, bridge C to A again.
    True when C is with the agent; False when there is no agent leg to go back to."""
    restore(channel, channel.variable(RECORDING_VARIABLE))
    agent = channel.variable(AGENT_LEG_VARIABLE)
    return bool(to_agent and agent and channel.bridge_to_leg(agent))


def leave(switch: Switch, customer: str) -> List[str]:
    """The agent API's ``complete`` while the flow still holds C: restore C before it moves."""
    return restore(LegOnSwitch(switch, customer), switch.get_variable(customer, RECORDING_VARIABLE))
