"""``transfer``: hand the call to a dialplan extension (an agent, a queue); the flow ends.

Where a tenant's callers may go is that tenant's allow list (``CallServices.may_transfer``):
a destination outside it ends the flow with an error before the caller is moved, so the
dialplan's fallback takes them rather than another tenant's queue.
"""
from typing import TYPE_CHECKING

from ..step_api import Finish, StepError, StepKind, register

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

    @classmethod
    def destinations(cls, config):
        return [(("extension",), str(config["extension"]), str(config["context"]))]

    def run(self, ctx: "FlowContext") -> Finish:
        extension = ctx.render(self.config["extension"])
        dialplan, context = ctx.render(self.config["dialplan"]), ctx.render(self.config["context"])
        refuse_unless_allowed(ctx, extension, context)
        ctx.channel.transfer(extension, dialplan=dialplan, context=context)
        return Finish("transferred", f"to {extension} {dialplan} {context}")


def refuse_unless_allowed(ctx: "FlowContext", extension: str, context: str) -> None:
    """A StepError unless the call's tenant may send its caller to ``extension`` in ``context``."""
    services = ctx.services
    if services is not None and not services.may_transfer(extension, context):
        raise StepError(f"transfer to {extension} in context {context} is not one of tenant "
                        f"{services.tenant}'s destinations")
