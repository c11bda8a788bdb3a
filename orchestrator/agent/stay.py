"""Stay-on-line mode: the agent keeps listening while the caller keys the card.

The mechanism is docs/stay-on-line.md (measured on FreeSWITCH 1.10.12): the customer's leg (C)
leaves the bridge for the payment socket (``pay_agent`` in the payments context), the agent's
leg (A) runs ``eavesdrop`` on it with whisper (``agent_listen``). The agent hears the prompts
and, between fields, the caller; the caller hears the agent throughout. No key reaches the
agent: ``sensitive_dtmf`` goes on first, so no DTMF event is forwarded, and collect_card mutes
C's read audio around each field, so no in-band tone is heard either. A running recording is
paused (not masked: a mask leaked buffered tones on the real switch, see collect_card).

Entering, over the node's inbound ``api``, in this order (each change has its undo, run in
reverse when a later command fails, so nothing is left half-started)::

    uuid_setvar C sensitive_dtmf true           # first: no key is forwarded from here on
    uuid_setvar C pay_agent_uuid A
    uuid_setvar C pay_recording_path <path>     # } only when C has pay_recording_path
    uuid_record C pause <path>                  # }
    uuid_setvar C send_silence_when_idle -1     # the whisper reaches the caller while C is idle
    uuid_setvar A pay_customer_uuid C
    uuid_setvar A park_after_bridge true        # A survives its bridge breaking
    uuid_setvar A eavesdrop_enable_dtmf false   # agent keys cannot change the eavesdrop
    uuid_setvar A eavesdrop_whisper_bleg true   # the agent's voice goes into the caller's ear
    uuid_setvar_multi C pay_session=..;pay_mode=stay;..   # the session, as in transfer mode
    uuid_transfer C pay_agent XML payments      # customer first
    uuid_transfer A agent_listen XML payments
    uuid_setvar A park_after_bridge             # unset again

Leaving is the flow's ``transfer_back`` (engine/steps/transfer_back.py, ``stay_leave_commands``),
or ``complete`` here for a finished session; if the service dies, the dialplan's fallback
after ``socket`` undoes it all and intercepts the agent's leg.
"""
import logging

from orchestrator.engine.steps.transfer_back import stay_leave_commands

log = logging.getLogger(__name__)

STAY_EXTENSION = ("pay_agent", "XML", "payments")
LISTEN_EXTENSION = ("agent_listen", "XML", "payments")
NOT_A_FLOW = "-"     # a pay_flow naming no flow: the service hands the call straight back


def recording_path(control, node, customer):
    value = control._api(node, "uuid_getvar %s pay_recording_path" % customer).strip()
    return None if not value or value == "_undef_" or value.startswith("-ERR") else value


def start_stay(control, session, node, agent_leg, variables):
    """Run the entering sequence; on a failure undo what was done and raise ControlError."""
    customer = session.call_uuid
    path = recording_path(control, node, customer)
    steps = [
        ("uuid_setvar %s sensitive_dtmf true" % customer, ["uuid_setvar %s sensitive_dtmf" % customer]),
        ("uuid_setvar %s pay_agent_uuid %s" % (customer, agent_leg),
         ["uuid_setvar %s pay_agent_uuid" % customer]),
    ]
    if path:
        steps += [("uuid_setvar %s pay_recording_path %s" % (customer, path), []),
                  ("uuid_record %s pause %s" % (customer, path),
                   ["uuid_record %s resume %s" % (customer, path)])]
    steps += [
        ("uuid_setvar %s send_silence_when_idle -1" % customer,
         ["uuid_setvar %s send_silence_when_idle" % customer]),
        ("uuid_setvar %s pay_customer_uuid %s" % (agent_leg, customer),
         ["uuid_setvar %s pay_customer_uuid" % agent_leg]),
        ("uuid_setvar %s park_after_bridge true" % agent_leg,
         ["uuid_setvar %s park_after_bridge" % agent_leg]),
        ("uuid_setvar %s eavesdrop_enable_dtmf false" % agent_leg,
         ["uuid_setvar %s eavesdrop_enable_dtmf" % agent_leg]),
        ("uuid_setvar %s eavesdrop_whisper_bleg true" % agent_leg,
         ["uuid_setvar %s eavesdrop_whisper_bleg" % agent_leg]),
        ("uuid_setvar_multi %s %s" % (customer, ";".join("%s=%s" % pair for pair in variables)),
         ["uuid_setvar %s %s" % (customer, name) for name, _ in variables]),
        ("uuid_transfer %s %s" % (customer, " ".join(STAY_EXTENSION)), []),
        ("uuid_transfer %s %s" % (agent_leg, " ".join(LISTEN_EXTENSION)), []),
    ]
    undo = []
    try:
        for command, reverse in steps:
            control._expect(node, command)
            undo.append(reverse)
            if command.startswith("uuid_transfer %s " % customer):
                # the caller is on the way to the socket: a pay_flow naming no flow makes the
                # service hand the call back at once, and the dialplan's fallback after
                # `socket` restores the caller's channel and intercepts the agent's leg (it
                # needs pay_agent_uuid and pay_recording_path, so those stay)
                undo = [r for r in undo if r and r[0].split()[1] == agent_leg] + [[
                    "uuid_setvar %s pay_session" % customer,
                    "uuid_setvar %s pay_flow %s" % (customer, NOT_A_FLOW)]]
    except Exception:
        _undo(control, node, session, undo)
        raise
    reply = control._try(node, "uuid_setvar %s park_after_bridge" % agent_leg)
    if not reply.startswith("+OK"):
        log.warning("session %s: park_after_bridge stays set on the agent leg", session.id)


def _undo(control, node, session, undo):
    for commands in reversed(undo):
        for command in commands:
            reply = control._try(node, command)
            if not reply.startswith("+OK"):
                log.warning("session %s: undo %s failed", session.id, command.split(" ", 1)[0])


def leave(control, node, session):
    """``complete`` on a stay session whose flow still holds the caller: restore the channel
    (the same commands as the flow's transfer_back) before the caller is moved."""
    customer = session.call_uuid
    path = recording_path(control, node, customer)
    for command in stay_leave_commands(customer, path):
        control._try(node, command)
