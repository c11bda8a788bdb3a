"""``set``: give flow variables (or, as ``channel.<name>``, channel variables) a value.

Keys are set in the order written, so a later value may use an earlier one. Channel
variables travel in every later event and into the CDR: never put anything secret there.
"""
from typing import TYPE_CHECKING

from ..ids import VARIABLE_NAME_PATTERN
from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class SetVariables(StepKind):
    name = "set"
    title = "Set variables"
    description = ("Sets flow variables; a key `channel.<name>` sets a channel variable instead. "
                   "Values may use ${...}.")
    schema = {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"], "description": "The value; ${...} allowed."},
        "propertyNames": {"pattern": "^(channel\\.)?" + VARIABLE_NAME_PATTERN[1:],
                          "patternErrorMessage": "is not a variable name"},
        "minProperties": 1,
    }
    example = {"greeting_played": "yes"}

    @classmethod
    def check(cls, config):
        return [((name,), f"'{name}': {str(name).split('.')[0]}.* is kept by the engine and cannot be set")
                for name in config if str(name).startswith(("attempts.", "call."))]

    @classmethod
    def defined_variables(cls, config):
        return [name for name in config if not str(name).startswith("channel.")]

    def run(self, ctx: "FlowContext") -> None:
        for name, value in self.config.items():
            ctx.set_variable(name, ctx.render(value))
