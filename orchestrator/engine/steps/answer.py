"""``answer``: answer the call, so the caller hears prompts and the carrier starts billing."""
from typing import TYPE_CHECKING

from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Answer(StepKind):
    name = "answer"
    title = "Answer the call"
    description = "Answers the call. Write `- answer: {}` (or `- answer:`)."
    schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, ctx: "FlowContext") -> None:
        ctx.channel.answer()
