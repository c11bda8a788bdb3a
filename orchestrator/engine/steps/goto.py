"""``goto``: continue at another step, e.g. back to a menu."""
from typing import TYPE_CHECKING

from ..ids import step_reference
from ..step_api import Goto, StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class GotoStep(StepKind):
    name = "goto"
    title = "Go to a step"
    description = "Continues at the step with this id: `- goto: menu`."
    schema = step_reference("The id of the step to continue at.")
    example = "menu"

    @classmethod
    def jump_targets(cls, config):
        return [((), config)]

    @classmethod
    def falls_through(cls, config):
        return False

    def run(self, ctx: "FlowContext") -> Goto:
        return Goto(self.config)
