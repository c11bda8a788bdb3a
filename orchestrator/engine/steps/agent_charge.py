"""``agent_charge``: the card is complete, and nothing is charged until the agent says so.

With the agent-started charge (a session started with ``"charge": "agent"``: the agent API
puts ``pay_agent_charge=true`` and ``pay_charge_timeout`` on the call), the flow stops here
with the card held in its secret type, in memory only. The agent's panel shows the amount and
the masked card with a "Charge" button; the caller hears the holding prompt
(``payment_awaiting_agent``) and then ``hold`` (silence by default, or music) until the agent:

- charges (``POST /sessions/{id}/charge``): the step ends and the next step (``authorize``)
  charges the card once, under the gateway's idempotency key for this attempt;
- asks for another card (``recapture``): the card is wiped, the flow goes to
  ``on.another-card``;
- cancels: the card is wiped, ``on.cancelled``.

Nothing from the agent within ``timeout`` seconds wipes the card and takes ``on.timeout``:
nothing is charged. A hangup ends the wait like any call command (the card is wiped on the
way out, as every step's card is when the call ends).

Put after a decline (the card already wiped by ``authorize``), the same step waits for the
agent's decision instead: another card or cancel, and nothing to charge.

The agent's request is taken as soon as it is made: the API stops the hold sound
(``uuid_break``), so the playback the step waits in returns at once. A request made in the
instant between two plays waits at most one play of ``tick`` seconds (silence), or is woken
by the second break the API sends.

Without ``pay_agent_charge`` (``enabled``), the step does nothing: the flow charges as soon as
the card is complete, as before.
"""
import time
from typing import TYPE_CHECKING, List

import gevent

from ...payments.events import ChargeAbandoned, ChargeAwaited
from ..channel import CommandTimeout, Prompt
from ..prompts import play_prompts, step_prompts
from ..step_api import (StepError, StepKind, StepResult, continue_on, missing_branches,
                        on_jump_targets, on_schema, register)
from ..optional_steps import enabled_schema, is_enabled

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

ANOTHER_CARD, CANCELLED, TIMEOUT = "another-card", "cancelled", "timeout"
OUTCOMES = (ANOTHER_CARD, CANCELLED, TIMEOUT)
KINDS = ("charge", "recapture", "cancel")
DEFAULT_TIMEOUT = 180.0
UNHANDLED = ("the step would end the flow with an error, and the call in the dialplan's "
             "fallback, without the caller hearing why")
HOLDING_PROMPT = "payment_awaiting_agent"
MIN_TICK = 0.05    # seconds: the least a look at the agent's request waits


@register
class AgentCharge(StepKind):
    name = "agent_charge"
    title = "Wait for the agent's charge"
    description = ("Before authorize: when the agent asked to start the charge themselves "
                   "(pay_agent_charge), holds the complete card in memory and waits for the "
                   "agent's charge, another card or cancel; a timeout wipes the card.")
    schema = {
        "type": "object",
        "properties": {
            "enabled": enabled_schema("wait for the agent's charge"),
            "timeout": {"type": ["string", "number"], "default": "${channel.pay_charge_timeout}",
                        "description": "Seconds to wait for the agent (agent_api.charge_timeout, "
                                       "given to the call as pay_charge_timeout); not set: 180."},
            "hold": {"type": "string", "default": "silence_stream://%d",
                     "description": "What the caller hears while waiting, after the holding "
                                    "prompt: silence by default (%d is filled with tick in "
                                    "milliseconds), or a music file or stream."},
            "tick": {"type": "number", "exclusiveMinimum": 0, "maximum": 30, "default": 2,
                     "description": "Seconds of one play of silence between looks at the "
                                    "agent's request (a request also stops the hold sound)."},
            "language": {"type": "string", "description": "Overrides the call's language."},
            "on": on_schema({ANOTHER_CARD: "The agent asked for another card (the card is wiped).",
                             CANCELLED: "The agent cancelled (the card is wiped).",
                             TIMEOUT: "The agent did nothing within timeout (the card is wiped, "
                                      "nothing charged)."}),
        },
        "additionalProperties": False,
    }
    example = {"enabled": "${channel.pay_agent_charge}",
               "on": {"another-card": "another_card", "cancelled": "cancelled",
                      "timeout": "back_to_agent"}}

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def unhandled_outcomes(cls, config):
        if config["enabled"] is False:
            return []
        return missing_branches(config, OUTCOMES, UNHANDLED)

    @classmethod
    def catalog_keys(cls, config):
        return [((), "prompts", HOLDING_PROMPT)]

    def run(self, ctx: "FlowContext") -> StepResult:
        if not is_enabled(ctx, self.config["enabled"]):
            return None
        services = ctx.services
        take = services.agent_requests if services is not None else None
        if services is None or take is None:
            raise StepError("agent_charge needs an agent's session (the agent API)")
        card = ctx.card
        with_card = card is not None and not card.wiped and card.has_number
        masked = card.summary.masked if card is not None and with_card else ""
        services.events.publish(ChargeAwaited(masked=masked))
        ctx.log.info("agent_charge: waiting for the agent (%s)",
                     "card complete" if with_card else "after a decline")
        try:
            request = self._wait(ctx, take, with_card)
        except BaseException:
            if card is not None:
                card.wipe()
            raise
        if request is not None and request[0] == "charge" and with_card:
            ctx.log.info("agent_charge: the agent charges")
            return None
        outcome = (TIMEOUT if request is None else
                   CANCELLED if request[0] == "cancel" else ANOTHER_CARD)
        if card is not None:
            card.wipe()
        services.events.publish(ChargeAbandoned(reason=outcome))
        ctx.log.info("agent_charge: %s; the card is wiped, nothing charged", outcome)
        return continue_on("agent_charge", self.config, outcome)

    def _wait(self, ctx: "FlowContext", take, with_card: bool):
        """The agent's request, or None at the deadline; the caller hears the holding prompt
        and then the hold sound meanwhile."""
        kinds = KINDS if with_card else ("recapture", "cancel")
        deadline = time.monotonic() + self._timeout(ctx)
        holding = self._holding(ctx)
        config = self.config
        hold = config["hold"]
        if "%d" in hold:
            hold = hold % int(config["tick"] * 1000)
        while True:
            request = take(kinds)
            if request is not None:
                return request
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            started = time.monotonic()
            try:
                self._hold(ctx, holding or [Prompt("file", hold)], left)
                holding = []
            except CommandTimeout:   # the hold sound outlived the wait's deadline (or a tick)
                pass
            if time.monotonic() - started < MIN_TICK:   # played nothing: never a busy loop
                gevent.sleep(MIN_TICK)

    def _hold(self, ctx: "FlowContext", prompts: List[Prompt], left: float) -> None:
        """Play ``prompts`` and return when they have been heard (or stopped by the agent's
        request): on a secure call they wait for the next read unless flushed."""
        tick = self.config["tick"]
        timeout = max(0.1, min(left, tick * 2) if prompts[-1].value.startswith("silence_stream")
                      else left)
        play_prompts(ctx, prompts)
        ctx.channel.flush_announcements(timeout=timeout)

    def _timeout(self, ctx: "FlowContext") -> float:
        value = self.config["timeout"]
        text = value if isinstance(value, (int, float)) else ctx.render_optional(value)
        try:
            seconds = float(text)
        except (TypeError, ValueError):
            return DEFAULT_TIMEOUT
        return seconds if seconds > 0 else DEFAULT_TIMEOUT

    def _holding(self, ctx: "FlowContext") -> List[Prompt]:
        return step_prompts(ctx, "agent_charge", HOLDING_PROMPT, self.config.get("language"))
