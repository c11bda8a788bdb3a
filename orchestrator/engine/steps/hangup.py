"""``hangup``: end the call with a cause; the flow completes."""
from typing import TYPE_CHECKING

from ..step_api import Finish, StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Hangup(StepKind):
    name = "hangup"
    title = "Hang up"
    description = "Hangs up with a Q.850 cause name (default NORMAL_CLEARING); the flow's result is completed."
    schema = {
        "type": "object",
        "properties": {
            "cause": {"type": "string", "default": "NORMAL_CLEARING", "pattern": "^[A-Z0-9_]+$",
                      "patternErrorMessage": "must be a FreeSWITCH hangup cause such as NORMAL_CLEARING",
                      "description": "Hangup cause, e.g. NORMAL_CLEARING, CALL_REJECTED."},
        },
        "additionalProperties": False,
    }
    shorthand = "cause"

    @classmethod
    def falls_through(cls, config):
        return False

    def run(self, ctx: "FlowContext") -> Finish:
        cause = self.config["cause"]
        ctx.channel.hangup(cause)
        return Finish("completed", f"hung up with {cause}")
