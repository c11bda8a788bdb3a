"""``branch``: jump to ``then`` when a condition holds, else to ``else`` (or the next step)."""
from typing import TYPE_CHECKING

from ..expressions import Condition
from ..ids import step_reference
from ..step_api import Goto, StepKind, StepResult, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Branch(StepKind):
    name = "branch"
    title = "Branch on a condition"
    description = ("If `if` holds, continue at step `then`; otherwise at `else`, or the next step. "
                   "Conditions compare ${variables}, numbers and 'quoted text' with == != < <= > >=, "
                   "combined with and / or / not and parentheses.")
    schema = {
        "type": "object",
        "properties": {
            "if": {"type": "string", "title": "Condition", "description": "e.g. \"${choice} == 1 and ${attempts.menu} < 3\""},
            "then": step_reference("Step id to continue at when the condition holds."),
            "else": step_reference("Step id to continue at otherwise (default: the next step)."),
        },
        "required": ["if", "then"],
        "additionalProperties": False,
    }
    example = {"if": "${choice} == 1", "then": "account"}

    def __init__(self, config, flow_language="en"):
        super().__init__(config, flow_language)
        self.condition = Condition.parse(config["if"])

    @classmethod
    def conditions(cls, config):
        return [(("if",), config["if"])]

    @classmethod
    def jump_targets(cls, config):
        return [((key,), config[key]) for key in ("then", "else") if key in config]

    @classmethod
    def falls_through(cls, config):
        return "else" not in config

    def run(self, ctx: "FlowContext") -> StepResult:
        if ctx.test(self.condition):
            return Goto(self.config["then"])
        if "else" in self.config:
            return Goto(self.config["else"])
        return None
