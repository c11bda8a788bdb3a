"""``transfer``: hand the call to a dialplan extension (an agent, a queue); the flow ends."""
from typing import TYPE_CHECKING

from ..step_api import Finish, StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Transfer(StepKind):
    name = "transfer"
    title = "Transfer the call"
    description = ("Transfers the call to an extension and ends the flow with result transferred. "
                   "`- transfer: 1000` is short for {extension: '1000'}.")
    schema = {
        "type": "object",
        "properties": {
            "extension": {"type": ["string", "integer"], "title": "Extension",
                          "description": "Destination in the dialplan; ${...} allowed."},
            "dialplan": {"type": "string", "default": "XML", "description": "Dialplan type."},
            "context": {"type": "string", "default": "default", "description": "Dialplan context."},
        },
        "required": ["extension"],
        "additionalProperties": False,
    }
    shorthand = "extension"
    example = {"extension": "1000"}

    @classmethod
    def falls_through(cls, config):
        return False

    def run(self, ctx: "FlowContext") -> Finish:
        extension = ctx.render(self.config["extension"])
        dialplan, context = ctx.render(self.config["dialplan"]), ctx.render(self.config["context"])
        ctx.channel.transfer(extension, dialplan=dialplan, context=context)
        return Finish("transferred", f"to {extension} {dialplan} {context}")
