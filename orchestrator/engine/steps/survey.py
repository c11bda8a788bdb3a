"""``survey``: after paying, ask the caller to rate the call from 1 to 5, and keep the answer.

The question is the catalog's ``survey`` prompt; the answer one key, read as a DTMF event like
any menu (the card is long wiped by now). A rating is recorded with the call's payment
(``payment.id``, set by ``authorize``: the store's ``survey_rating``), then published once as
``SurveyRated`` (``payments/events.py``), from which the metrics count
``payivr_survey_ratings_total{tenant, rating}``, and the caller hears ``survey.thanks``. Sets
``survey.rating`` (empty when there is none).

Not answering is an answer: no key (timeout) or ``*`` records no rating and the flow goes on,
never a failure. A key that is no rating (0, 6 to 9, #) is said to be no choice
(``key.invalid``) and the question asked again, at most ``max_attempts`` times in all; then no
rating either. A call without a payment (the caller cancelled before authorize) is not asked.
A store that cannot take the rating is logged; the caller's payment is done, so the flow goes
on without it (and nothing is published: a fact is published once it is recorded).

``enabled`` makes the survey optional per call, as ``confirm_payment``'s does:
``enabled: ${channel.pay_survey}`` asks only when the dialplan or the agent panel set
``pay_survey`` to true, yes or 1.
"""
from typing import TYPE_CHECKING, List, Optional

from ...payments.events import SurveyRated
from ...store import StoreError
from ...store.journal import SURVEY_RATINGS
from ..channel import Prompt
from ..prompts import play_prompts, step_prompts
from ..step_api import StepKind, StepResult, register
from ..optional_steps import enabled_schema, is_enabled

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

RATING_KEYS = {str(rating): rating for rating in SURVEY_RATINGS}


@register
class Survey(StepKind):
    name = "survey"
    title = "Satisfaction survey"
    description = ("After a payment: asks the caller to rate the call from 1 to 5 and records the rating with "
                   "the payment (no key: no rating, the flow goes on). Optional per call with "
                   "enabled: ${channel.pay_survey}.")
    schema = {
        "type": "object",
        "properties": {
            "enabled": enabled_schema("ask"),
            "first_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                                    "description": "Seconds to wait for the rating after the question; "
                                                   "no key in that time means no rating."},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2,
                             "description": "Times the question is asked when the key is no rating."},
            "language": {"type": "string", "description": "Overrides the call's language."},
        },
        "additionalProperties": False,
    }
    example = {"enabled": "${channel.pay_survey}"}

    @classmethod
    def defined_variables(cls, config):
        return ["survey.rating"]

    def run(self, ctx: "FlowContext") -> StepResult:
        ctx.variables["survey.rating"] = ""
        if not is_enabled(ctx, self.config["enabled"]):
            return None
        payment_id = ctx.variables.get("payment.id", "")
        if not payment_id:
            ctx.log.info("survey: no payment on this call; not asked")
            return None
        rating = self._ask(ctx)
        if rating is None:
            return None
        services = ctx.services
        if services is not None and services.store is not None:
            try:
                services.store.rate(payment_id, rating)
            except StoreError as exc:
                ctx.log.error("survey: the rating of payment %s could not be recorded: %s",
                              payment_id, exc)
                return None
            services.events.publish(SurveyRated(payment_id=payment_id, rating=rating))
        ctx.variables["survey.rating"] = str(rating)
        play_prompts(ctx, self._prompts(ctx, "survey.thanks"))
        return None

    def _ask(self, ctx: "FlowContext") -> Optional[int]:
        """The caller's rating, or None when they keyed none (or only keys that are none)."""
        config = self.config
        question = self._prompts(ctx, "survey")
        prompts = question
        for attempt in range(1, config["max_attempts"] + 1):
            result = ctx.channel.collect_digits(
                prompts=prompts, min_digits=1, max_digits=1, terminators="",
                first_digit_timeout=config["first_digit_timeout"], inter_digit_timeout=1,
                cancel_key="*")
            if result.status in ("timeout", "cancelled"):
                ctx.log.info("survey: no rating (%s)", "no key" if result.status == "timeout" else "*")
                return None
            if result.status == "ok" and result.digits in RATING_KEYS:
                ctx.log.info("survey: rated %s", result.digits)
                return RATING_KEYS[result.digits]
            ctx.log.info("survey: attempt %d of %d had a key that is no rating", attempt,
                         config["max_attempts"])
            prompts = self._prompts(ctx, "key.invalid") + question
        return None

    def _prompts(self, ctx: "FlowContext", key: str) -> List[Prompt]:
        return step_prompts(ctx, "survey", key, self.config.get("language"))
