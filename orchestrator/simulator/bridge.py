"""bridge: the far end's behaviour comes from the caller script's ``bridge`` plan.

As in mod_dptools' audio_bridge_function: a failed originate sets
``originate_disposition``/``originate_failed_cause``/``DIALSTATUS`` and then
switch_channel_handle_cause hangs the caller up with that cause unless it is NO_ANSWER,
NO_USER_RESPONSE or ORIGINATOR_CANCEL or ``continue_on_fail`` allows it. An answered
bridge lasts until the far end hangs up (``talk``) or the caller does; then
``bridge_hangup_cause`` is set, and with ``hangup_after_bridge=true`` the caller is hung
up too. bridge never sets an Application-Response (it stays ``_none_``); uuid_break does
not end it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .apps import app, wait
from .events import new_uuid

if TYPE_CHECKING:
    from .channel import AppRun, SimChannel

_ALWAYS_CONTINUE = ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL")
_DIALSTATUS = {"USER_BUSY": "BUSY", "NO_ANSWER": "NOANSWER", "NO_USER_RESPONSE": "NOANSWER",
               "ORIGINATOR_CANCEL": "CANCEL", "CALL_REJECTED": "BUSY", "UNALLOCATED_NUMBER": "INVALIDARGS"}


def _continues(ch: "SimChannel", cause: str) -> bool:
    value = ch.variables.get("continue_on_fail")
    if value is None and not ch.variables.get("failure_causes"):
        return cause in _ALWAYS_CONTINUE
    if value is not None:
        from .channel import is_true
        if is_true(value):
            return True
        return cause.upper() in [c.strip().upper() for c in value.split(",")]
    return False


@app("bridge")
def _bridge(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    plan = ch.caller.bridge
    if _ring(ch, run, plan.after) == "hangup":
        ch.record.bridge_attempts.append((arg, "ORIGINATOR_CANCEL"))
        return None
    if plan.outcome != "answered":
        cause = plan.outcome
        ch.record.bridge_attempts.append((arg, cause))
        ch.set_var("originate_disposition", cause)
        ch.set_var("originate_failed_cause", cause)
        ch.set_var("DIALSTATUS", _DIALSTATUS.get(cause, "CHANUNAVAIL"))
        if not _continues(ch, cause):
            ch.hangup(cause, by="switch")
        return None

    peer = new_uuid()
    ch.record.bridge_attempts.append((arg, "answered"))
    ch.record.bridged_to = arg
    if ch.state != "answered":
        from .apps import _answer
        _answer(ch, "", run)
    ch.set_var("originate_disposition", "SUCCESS")
    ch.set_var("DIALSTATUS", "SUCCESS")
    ch.set_var("bridge_uuid", peer)
    ch.set_var("signal_bond", peer)
    ch.set_var("last_bridge_to", peer)
    ch.fire_new("CHANNEL_BRIDGE", [("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", peer),
                                   ("Other-Type", "originatee"), ("Other-Leg-Unique-ID", peer),
                                   ("Other-Leg-Destination-Number", arg)])
    how = _ring(ch, run, plan.talk)
    ch.set_var("bridge_hangup_cause", "NORMAL_CLEARING")
    ch.set_var("last_bridge_hangup_cause", "NORMAL_CLEARING")
    if how == "hangup":
        return None
    ch.fire_new("CHANNEL_UNBRIDGE", [("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", peer),
                                     ("Other-Leg-Unique-ID", peer)])
    from .channel import is_true
    if is_true(ch.variables.get("hangup_after_bridge")):
        ch.hangup("NORMAL_CLEARING", by="switch")
    return None


def _ring(ch: "SimChannel", run: "AppRun", seconds: Optional[float]) -> str:
    """Wait through ringing or talking; uuid_break does not end a bridge, hangup does."""
    from .wire import now

    end = None if seconds is None else now() + ch.scaled(seconds)
    while True:
        left = None if end is None else max(0.0, (end - now()) / max(ch.switch.time_scale, 1e-9))
        how, _ = wait(ch, run, left)
        if how in ("hangup", "done"):
            return how
        if how == "break" and not ch.up:   # transferred away
            return "hangup"
