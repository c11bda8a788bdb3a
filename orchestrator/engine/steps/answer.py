"""``answer``: answer the call, so the caller hears prompts and the carrier starts billing."""
from ..step_api import StepKind, register


@register
class Answer(StepKind):
    name = "answer"
    title = "Answer the call"
    description = "Answers the call. Write `- answer: {}` (or `- answer:`)."
    schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, ctx):
        ctx.channel.answer()
