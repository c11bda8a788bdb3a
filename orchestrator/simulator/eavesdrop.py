"""Stay-on-line payments: what FreeSWITCH 1.10.12 was measured doing (docs/stay-on-line.md).

The agent's leg runs ``eavesdrop`` on the customer's leg while the customer keys a card in the
payment socket. What the agent then hears is kept on the ``AgentLeg`` (legs.py): the prompts
played on the customer leg, and the caller's read audio, in-band key tones included, unless
that audio is muted with ``uuid_audio <customer> start read mute 1`` (this module; without the
level the real switch answers ``-USAGE`` and mutes nothing). With ``eavesdrop_whisper_bleg`` the
caller hears the agent, but only while the customer leg writes frames: during a prompt, or all
the time with ``send_silence_when_idle``. No DTMF event reaches an eavesdropper.

Also here: ``intercept`` (the dialplan's crash fallback takes the agent leg out of its eavesdrop
and bridges it to the caller), ``record_session_pause|resume|mask|unmask``, the ``${...}`` and
``${api(args)}`` expansion the fallback's actions use, and ``payments_extensions``: the
simulator's copy of freeswitch_conf/dialplan/payments.xml.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from .apps import app, wait
from .commands import _locate, api
from .dialplan import Condition, Step
from .legs import is_agent_leg

if TYPE_CHECKING:
    from .channel import AppRun, SimChannel

AUDIO_USAGE = "-USAGE: <uuid> [start [read|write] [mute|level <level>]|stop]\n"
_INNER = re.compile(r"\$\{([^${}]*)\}")
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
# payments.xml's pay_socket_target: the address an instance names for its own socket
SOCKET_ADDRESS = r"^([0-9A-Za-z.:\[\]-]{1,80})$"


def payments_extensions(esl_address: Tuple[str, int]) -> Dict[str, List[Step]]:
    """The payments context as freeswitch_conf/dialplan/payments.xml has it, for
    ``Switch.extensions`` (``$${orchestrator_esl_address}`` -> the service's socket), up to
    each socket and the stay-mode fallback after it; tests/simulator/test_dialplan.py checks
    that the shipped XML, read by ``dialplan.extensions_from_xml``, agrees."""
    address = "%s:%d" % (esl_address[0], esl_address[1])
    target = Condition("pay_socket_address", SOCKET_ADDRESS, (("set", "pay_socket_target=$1"),),
                       (("set", "pay_socket_target=" + address),))
    socket = ("socket", "${pay_socket_target} async full")
    secure: List[Step] = [("set", "sensitive_dtmf=true"), ("set", "digits_dialed_filter=(.+)")]
    return {
        "pay": [target] + secure + [("set", "socket_resume=true"), socket],
        "pay_agent": [target] + secure + [
            ("set", "socket_resume=true"), socket,
            ("unset", "hangup_cause"),
            ("unset", "sensitive_dtmf"),
            ("unset", "send_silence_when_idle"),
            ("set", "pay_audio_restore=${uuid_audio(${uuid} stop)}"),
            ("record_session_resume", "${pay_recording_path}"),
            ("intercept", "${pay_agent_uuid}"),
            ("hangup", "NORMAL_CLEARING")],
        "agent_listen": [target, ("eavesdrop", "${pay_customer_uuid}"),
                         ("hangup", "NORMAL_CLEARING")],
    }


def expand(switch, variables: Dict[str, str], text: str) -> str:
    """Channel-variable and api expansion, innermost first (SCF_API_EXPANSION is on in 1.10)."""
    for _ in range(20):
        match = _INNER.search(text)
        if match is None:
            return text
        inner = match.group(1)
        call = _CALL.match(inner)
        value = (switch.api("%s %s" % call.groups()).strip() if call
                 else variables.get(inner, ""))
        text = text[:match.start()] + value + text[match.end():]
    return text


def listening_agents(switch, customer_uuid: str) -> list:
    """Agent legs that hear the customer leg now: bridged to it or eavesdropping on it."""
    return [leg for leg in list(switch.channels.agents.values())
            if leg.up
            and (leg.bridged_to == customer_uuid or leg.eavesdropping == customer_uuid)]


@api("uuid_audio")
def _uuid_audio(switch, arg: str) -> str:
    """uuid_audio <uuid> start read|write mute|level <n> | stop: only the read mute is emulated."""
    words = arg.split()
    if len(words) < 2 or words[1] not in ("start", "stop"):
        return AUDIO_USAGE
    channel = _locate(switch, words[0])
    if channel is None:
        return "-ERR No Such Channel!\n"
    if words[1] == "stop":
        channel.read_muted = False
        return "+OK\n"
    if len(words) < 5 or words[2] not in ("read", "write") or words[3] not in ("mute", "level"):
        return AUDIO_USAGE
    try:
        level = int(words[4])
    except ValueError:
        return AUDIO_USAGE
    if words[2] == "read" and words[3] == "mute":
        channel.read_muted = level != 0
    return "+OK\n"


@app("intercept")
def _intercept(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    """Take the agent leg out of what it runs (eavesdrop, park) and bridge it to this call until
    either side hangs up; a leg that is gone (or already this call's partner) returns at once."""
    leg = ch.switch.channels.get(arg.strip())
    if leg is None or not is_agent_leg(leg) or not leg.up \
            or leg.bridged_to == ch.uuid:
        return None
    ch.record.bridged_to = leg.uuid
    ch.set_var("bridge_uuid", leg.uuid)
    ch.set_var("signal_bond", leg.uuid)
    leg.bridge_with(ch.uuid, intercepted=True)
    wait(ch, run, None)          # a hangup on either side ends it (legs.py breaks it)
    return None


def _recording_app(action):
    def handler(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
        path = arg.strip()
        if path:
            ch.switch.api("uuid_record %s %s %s" % (ch.uuid, action, path))
        return None
    return handler


for _action in ("pause", "resume", "mask", "unmask"):
    app("record_session_" + _action)(_recording_app(_action))
