"""``goto``: continue at another step, e.g. back to a menu."""
from ..ids import step_reference
from ..step_api import Goto, StepKind, register


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

    def run(self, ctx):
        return Goto(self.config)
