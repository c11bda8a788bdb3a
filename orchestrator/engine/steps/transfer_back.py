"""``transfer_back``: hand the caller on when the payment is over, with the result for the dialplan.

Before letting go it sets the result variables the dialplan and the CDR may read, and only
these: pay_result, pay_brand, pay_last4, pay_auth_code, pay_decline_reason, and
pay_card_token_id when a card was kept on file (our id of it, letters only). Destinations:
``agent`` (the extension in the channel variable ``pay_agent``, set before the caller was
sent here, in ``pay_agent_context``; without one, ``otherwise``), ``extension`` / ``queue`` (given), ``dialplan`` (the
socket is released and the dialplan goes on after ``socket``), ``goodbye`` (a goodbye prompt
and hang up). When the agent API held the agent's own leg (``pay_agent_leg``, hold music),
``agent`` bridges the caller back to that very leg (``uuid_break`` the music, ``uuid_bridge``);
only if that leg is gone does it ring the agent's extension.

Stay-on-line (``pay_mode=stay``, ``engine/stay.py``): the agent's leg (``pay_agent_uuid``)
eavesdrops on the caller. Whatever the destination, the caller's channel is restored first
(``stay.hand_back``: audio unmuted, recording resumed, the entry variables cleared, each step
tried whatever the one before answered); then ``agent`` bridges the caller to the agent's leg.
An agent leg that is gone means ``otherwise``.

An extension or queue must be one of the call's tenant's destinations (``transfer.py``); one
that is not ends the flow with an error before anything is set or played.

The flow's outcome says, as a typed field, whether the caller went back to the very agent leg
that held or listened (``Finish.to_agent_leg``): the agent API then leaves that leg alone.
"""
import logging
from typing import TYPE_CHECKING

from ...payments.events import HandedBack
from .. import stay
from ..call_language import decline_words
from ..channel import Channel
from ..step_api import Finish, StepKind, register
from .announce import Announce
from .transfer import refuse_unless_allowed

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

RESULT_VARIABLES = {"pay_result": "payment.result", "pay_brand": "card.brand",
                    "pay_last4": "card.last4", "pay_auth_code": "payment.auth_code",
                    "pay_decline_reason": "payment.decline_reason",
                    # our id of a card kept on file (store/card_tokens.py), never the gateway's
                    "pay_card_token_id": "payment.card_token_id"}
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

    @classmethod
    def destinations(cls, config):
        to = config["to"]
        if to in ("extension", "queue") and to in config:
            return [((to,), str(config[to]), str(config["context"]))]
        return []

    def run(self, ctx: "FlowContext") -> Finish:
        config, channel = self.config, ctx.channel
        if config["to"] in ("extension", "queue"):   # before anything reaches the caller
            refuse_unless_allowed(ctx, ctx.render(config[config["to"]]), ctx.render(config["context"]))
        results = []
        for name, source in RESULT_VARIABLES.items():
            value = ctx.variables.get(source, "")
            if name == "pay_decline_reason" and ctx.variables.get("payment.decline_code"):
                # the words the caller heard, in the call's language now (catalog reasons:)
                value = decline_words(ctx, ctx.variables["payment.decline_code"], value)
            if value:
                results.append((name, value))
        if results:
            channel.set_variables(results)
        if "announce" in config:
            Announce({"prompt": config["announce"]}).run(ctx)
        to = config["to"]
        if stay.in_stay_mode(channel):
            if stay.hand_back(channel, to_agent=to == "agent"):
                return self._handed(ctx, "agent", "to the agent's leg", to_agent_leg=True)
            to = config["otherwise"] if to == "agent" else to
        held_leg = channel.variable("pay_agent_leg")
        if to == "agent" and held_leg and _bridge_to_held_leg(channel, held_leg):
            return self._handed(ctx, "agent", "to the agent's leg", to_agent_leg=True)
        if to == "agent" and not channel.variable("pay_agent"):
            to = config["otherwise"]
        if to == "dialplan":
            return self._handed(ctx, "dialplan", "returned to the dialplan", result="completed")
        if to == "goodbye":
            Announce({"prompt": "goodbye"}).run(ctx)
            channel.hangup("NORMAL_CLEARING")
            return self._handed(ctx, "goodbye", "goodbye", result="completed")
        if to == "agent":
            extension = channel.variable("pay_agent") or ""
            context = channel.variable("pay_agent_context")
            if context is None:
                context = ctx.render(config["context"])
        else:
            extension, context = ctx.render(config[to]), ctx.render(config["context"])
        channel.transfer(extension, "XML", context)
        return self._handed(ctx, to, "to %s %s" % (extension, context))

    @staticmethod
    def _handed(ctx: "FlowContext", destination: str, detail: str, result: str = "transferred",
                to_agent_leg: bool = False) -> Finish:
        if ctx.services is not None:
            ctx.services.events.publish(HandedBack(destination=destination, to_agent_leg=to_agent_leg))
        return Finish(result, detail, to_agent_leg=to_agent_leg)


def _bridge_to_held_leg(channel: "Channel", leg: str) -> bool:
    """Transfer mode: bridge the caller to the agent's parked leg, its hold music stopped once
    the caller has heard what was left to announce; False when that leg is gone."""
    return channel.bridge_to_leg(leg, held=True)
