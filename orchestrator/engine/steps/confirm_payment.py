"""``confirm_payment``: before the charge, tell the caller what is about to happen and ask.

"You are about to pay 12.50 euros with the card ending 1111. Press 1 to confirm, 2 to use
another card." A caller who keyed a wrong card, or misheard the amount, can stop before any
money moves. What is said of the card is its last four digits and nothing else: the prompt
(``payment_confirm`` in the catalog) is filled from the card's masked summary, whose only
digits a prompt may take are ``last4``; the number itself is never in reach of this step.

The answer is a menu key, read as a DTMF event like any menu (``collect_digits``): by now the
card's digits are in the card's secret type and ``sensitive_dtmf`` is off again. An attempt
fails when the caller keys nothing (``error.input-timeout`` is said before asking again) or a
key that is neither choice (``key.invalid``). After ``max_attempts`` failures the step
continues at ``on.too-many-failed-attempts`` (the flow's fallback: nothing is charged); ``*``
continues at ``on.cancelled`` at once; the another-card key at ``on.another-card``. Either way
out without confirming wipes the card, so nothing keyed can be charged by a later step by
mistake. The confirm key goes on to the next step (``authorize``).

``enabled`` makes the question optional per call: ``enabled: ${channel.pay_confirm}`` asks
only when the dialplan (``<action application="set" data="pay_confirm=true"/>``) or the agent
panel set ``pay_confirm`` to true, yes or 1; unset or anything else skips the step. Without
``enabled`` the step always asks.
"""
from typing import TYPE_CHECKING, List

from ...payments.money import Money, MoneyError
from ..channel import Prompt
from ..step_api import (StepError, StepKind, StepResult, continue_on, missing_branches,
                        on_jump_targets, on_schema, register)
from ..prompts import step_prompts
from ..optional_steps import enabled_schema, is_enabled

if TYPE_CHECKING:  # pragma: no cover
    from ...payments.card import CardData
    from ..context import FlowContext

ANOTHER_CARD, CANCELLED, TOO_MANY = "another-card", "cancelled", "too-many-failed-attempts"
OUTCOMES = (ANOTHER_CARD, CANCELLED, TOO_MANY)
CANCEL_KEY = "*"
UNHANDLED = ("the step would end the flow with an error, and the call in the dialplan's "
             "fallback, without the caller hearing why")


def menu_key(pattern_error: str, default: str, description: str):
    return {"type": "string", "pattern": "^[0-9#]$", "default": default,
            "patternErrorMessage": pattern_error, "description": description}


@register
class ConfirmPayment(StepKind):
    name = "confirm_payment"
    title = "Confirm the payment"
    description = ("Before authorize: says the amount and the card's last four digits and asks the caller "
                   "to press 1 to confirm or 2 to use another card (* cancels). Optional per call with "
                   "enabled: ${channel.pay_confirm}.")
    schema = {
        "type": "object",
        "properties": {
            "enabled": enabled_schema("ask"),
            "amount": {"type": ["string", "integer"], "default": "${amount}",
                       "description": "Integer minor units said as the amount (as authorize's)."},
            "currency": {"type": "string", "default": "${currency}", "description": "ISO 4217 code."},
            "confirm_key": menu_key("must be one key, 0-9 or #", "1", "The key that confirms."),
            "another_card_key": menu_key("must be one key, 0-9 or #", "2",
                                         "The key that asks for another card (on.another-card)."),
            "first_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                                    "description": "Seconds to wait for the key after the question."},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3,
                             "description": "Times the question is asked before on.too-many-failed-attempts."},
            "language": {"type": "string", "description": "Overrides the call's language."},
            "on": on_schema({ANOTHER_CARD: "The caller wants to use another card (the card is wiped).",
                             CANCELLED: "The caller pressed * (the card is wiped).",
                             TOO_MANY: "No key, or a key that is no choice, every time (the card is "
                                       "wiped, nothing charged)."}),
        },
        "additionalProperties": False,
    }
    example = {"enabled": "${channel.pay_confirm}",
               "on": {"another-card": "card", "cancelled": "cancelled",
                      "too-many-failed-attempts": "back_to_agent"}}

    @classmethod
    def check(cls, config):
        if config["confirm_key"] == config["another_card_key"]:
            return [(("another_card_key",), "another_card_key is the same key as confirm_key")]
        return []

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def unhandled_outcomes(cls, config):
        if config["enabled"] is False:
            return []
        return missing_branches(config, OUTCOMES, UNHANDLED)

    def run(self, ctx: "FlowContext") -> StepResult:
        config = self.config
        if not is_enabled(ctx, config["enabled"]):
            return None
        card = ctx.card
        if card is None or card.wiped or not card.has_number:
            raise StepError("confirm_payment needs a card: put collect_card before it")
        question = self._question(ctx, card.summary.last4)
        again = {"timeout": self._prompts(ctx, "error.input-timeout"),
                 "rejected": self._prompts(ctx, "key.invalid")}
        prompts = question
        for attempt in range(1, config["max_attempts"] + 1):
            result = ctx.channel.collect_digits(
                prompts=prompts, min_digits=1, max_digits=1, terminators="",
                first_digit_timeout=config["first_digit_timeout"], inter_digit_timeout=1,
                cancel_key=CANCEL_KEY)
            if result.status == "cancelled":
                return self._not_confirmed(ctx, card, CANCELLED)
            if result.status == "ok" and result.digits == config["confirm_key"]:
                ctx.log.info("confirm_payment: confirmed on attempt %d", attempt)
                return None
            if result.status == "ok" and result.digits == config["another_card_key"]:
                return self._not_confirmed(ctx, card, ANOTHER_CARD)
            failure = "timeout" if result.status == "timeout" else "rejected"
            ctx.log.info("confirm_payment: attempt %d of %d %s", attempt, config["max_attempts"],
                         "timed out" if failure == "timeout" else "had a key that is no choice")
            prompts = again[failure] + question
        return self._not_confirmed(ctx, card, TOO_MANY)

    def _not_confirmed(self, ctx: "FlowContext", card: "CardData", outcome: str) -> StepResult:
        card.wipe()
        ctx.log.info("confirm_payment: %s; the card is wiped, nothing charged", outcome)
        return continue_on("confirm_payment", self.config, outcome)

    def _question(self, ctx: "FlowContext", last4: str) -> List[Prompt]:
        """The question, filled with the amount and the last four only."""
        config = self.config
        try:
            money = Money.parse(ctx.render(config["amount"]), ctx.render(config["currency"]))
        except MoneyError as exc:
            raise StepError("confirm_payment: %s" % exc)
        return self._prompts(ctx, "payment_confirm", amount=money.major_text,
                             currency=money.currency, last4=last4,
                             confirm_key=config["confirm_key"],
                             another_card_key=config["another_card_key"])

    def _prompts(self, ctx: "FlowContext", key: str, **params) -> List[Prompt]:
        return step_prompts(ctx, "confirm_payment", key, self.config.get("language"), **params)
