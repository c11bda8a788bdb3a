"""``transfer_back``: hand the caller on when the payment is over, with the result for the dialplan.

Before letting go it sets the result variables the dialplan and the CDR may read, and only
these: pay_result, pay_brand, pay_last4, pay_auth_code, pay_decline_reason. Destinations:
``agent`` (the extension in the channel variable ``pay_agent``, set before the caller was
sent here, in ``pay_agent_context``; without one, ``otherwise``), ``extension`` / ``queue`` (given), ``dialplan`` (the
socket is released and the dialplan goes on after ``socket``), ``goodbye`` (a goodbye prompt
and hang up). When the agent API held the agent's own leg (``pay_agent_leg``, hold music),
``agent`` bridges the caller back to that very leg (``uuid_break`` the music, ``uuid_bridge``);
only if that leg is gone does it ring the agent's extension.

Stay-on-line (``pay_mode=stay``, docs/stay-on-line.md): the agent's leg (``pay_agent_uuid``)
eavesdrops on the caller. Whatever the destination, the caller's channel is restored first
(``stay_leave_commands``: audio unmuted, recording resumed, ``sensitive_dtmf`` and
``send_silence_when_idle`` unset, and ``socket_resume`` unset BEFORE any bridge: closing the
socket after ``uuid_bridge`` with it set resets the caller's leg and ends every leg); then
``agent`` is ``uuid_bridge <caller> <agent leg>``. An agent leg that is gone means ``otherwise``.
"""
import logging

from ..step_api import Finish, StepKind, register
from .announce import Announce

RESULT_VARIABLES = {"pay_result": "payment.result", "pay_brand": "card.brand",
                    "pay_last4": "card.last4", "pay_auth_code": "payment.auth_code",
                    "pay_decline_reason": "payment.decline_reason"}
log = logging.getLogger(__name__)
DESTINATIONS = ("agent", "extension", "queue", "dialplan", "goodbye")


@register
class TransferBack(StepKind):
    name = "transfer_back"
    title = "Transfer back"
    description = "Sets the pay_* result variables and hands the call back: agent, extension, queue, dialplan or goodbye."
    schema = {
        "type": "object",
        "properties": {
            "to": {"type": "string", "enum": list(DESTINATIONS), "default": "agent"},
            "extension": {"type": ["string", "integer"], "description": "With to: extension."},
            "queue": {"type": "string", "description": "With to: queue: the queue's extension."},
            "context": {"type": "string", "default": "default", "description": "Dialplan context."},
            "announce": {"type": "string", "description": "A catalog prompt to play first."},
            "otherwise": {"enum": ["dialplan", "goodbye"], "default": "dialplan",
                          "description": "With to: agent, when no pay_agent is set on the channel."},
        },
        "additionalProperties": False,
    }
    shorthand = "to"
    example = {"to": "agent"}

    @classmethod
    def check(cls, config):
        to = config["to"]
        if to in ("extension", "queue") and to not in config:
            return [((), "transfer_back to %s needs '%s'" % (to, to))]
        return []

    @classmethod
    def falls_through(cls, config):
        return False

    def run(self, ctx):
        config, channel = self.config, ctx.channel
        for name, source in RESULT_VARIABLES.items():
            value = ctx.variables.get(source, "")
            if value:
                channel.set_variable(name, value)
        if "announce" in config:
            Announce({"prompt": config["announce"]}, self.flow_language).run(ctx)
        to = config["to"]
        if channel.variables.get("pay_mode") == "stay":
            if _leave_stay(channel, bridge=to == "agent"):
                return Finish("transferred", AGENT_LEG_DETAIL)
            to = config["otherwise"] if to == "agent" else to
        if to == "agent" and not channel.variables.get("pay_agent") \
                and not channel.variables.get("pay_agent_leg"):
            to = config["otherwise"]
        if to == "dialplan":
            return Finish("completed", "returned to the dialplan")
        if to == "goodbye":
            Announce({"prompt": "goodbye"}, self.flow_language).run(ctx)
            channel.hangup("NORMAL_CLEARING")
            return Finish("completed", "goodbye")
        if to == "agent" and channel.variables.get("pay_agent_leg"):
            if _bridge_to_leg(channel, channel.variables["pay_agent_leg"]):
                return Finish("transferred", AGENT_LEG_DETAIL)
        if to == "agent" and not channel.variables.get("pay_agent"):
            to = config["otherwise"]
            if to == "dialplan":
                return Finish("completed", "returned to the dialplan")
            Announce({"prompt": "goodbye"}, self.flow_language).run(ctx)
            channel.hangup("NORMAL_CLEARING")
            return Finish("completed", "goodbye")
        if to == "agent":
            extension = channel.variables["pay_agent"]
            context = channel.variables.get("pay_agent_context", ctx.render(config["context"]))
        else:
            extension, context = ctx.render(config[to]), ctx.render(config["context"])
        channel.transfer(extension, "XML", context)
        return Finish("transferred", "to %s %s" % (extension, context))


AGENT_LEG_DETAIL = "to the agent's leg"


def stay_leave_commands(customer, recording_path=None):
    """The inbound api commands that give a stay-mode caller's channel back its usual self."""
    commands = ["uuid_audio %s stop" % customer]
    if recording_path:
        commands.append("uuid_record %s resume %s" % (customer, recording_path))
    return commands + ["uuid_setvar %s sensitive_dtmf" % customer,
                       "uuid_setvar %s send_silence_when_idle" % customer,
                       "uuid_setvar %s socket_resume" % customer]


def _leave_stay(channel, bridge):
    """Restore the caller's channel; with ``bridge``, join it to the agent's leg again.
    True when bridged; False when there is no agent leg to go back to (or not asked)."""
    for command in stay_leave_commands(channel.uuid, channel.variables.get("pay_recording_path")):
        reply = channel.api(command)
        if not reply.startswith("+OK"):
            log.warning("stay mode: %s refused: %s", command.split(" ", 1)[0], reply.strip()[:60])
    leg = channel.variables.get("pay_agent_uuid")
    if not bridge or not leg or channel.api("uuid_exists %s" % leg).strip() != "true":
        return False
    return channel.api("uuid_bridge %s %s" % (channel.uuid, leg)).strip().startswith("+OK")


def _bridge_to_leg(channel, leg):
    """Bridge the caller to the held agent leg; False when that leg is gone.

    ``socket_resume`` is unset first: like a transfer, the bridge takes the caller out of the
    socket application, and closing the socket with it set would reset the caller's channel.
    """
    if channel.api("uuid_exists %s" % leg).strip() != "true":
        return False
    if "socket_resume" in channel.variables:
        channel.unset_variable("socket_resume")
    channel.api("uuid_break %s all" % leg)
    return channel.api("uuid_bridge %s %s" % (channel.uuid, leg)).strip().startswith("+OK")
