"""``collect``: read DTMF digits into a flow variable (menus, account numbers), with retries.

Not for card data: the digits travel as DTMF events and sit in a flow variable. Card entry
has its own step with a mechanism proven on the real switch.

An attempt fails when the caller keys nothing (timeout) or something ``valid``/``choices``
rejects. Failed attempts re-prompt (``invalid_prompt`` first for a rejected entry, then
``retry_prompt`` or ``prompt``). After ``max_attempts`` the step continues at ``on.timeout``
when the caller never keyed anything and that target exists, else at
``on.too-many-failed-attempts``. The cancel key continues at ``on.cancelled`` at once. An
outcome without a target ends the flow with an error, leaving the call to the dialplan's
fallback rather than guessing.
"""
import re
from typing import TYPE_CHECKING

from ..ids import VARIABLE_NAME_PATTERN
from ..prompts import build_prompts, check_prompts, play_prompts, prompt_schema
from ..step_api import StepKind, StepResult, continue_on, on_jump_targets, on_schema, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

DTMF_KEYS = "^[0-9*#]*$"


@register
class Collect(StepKind):
    name = "collect"
    title = "Collect digits"
    description = ("Plays a prompt and reads DTMF digits into a flow variable, with validation and retries. "
                   "Not for card data.")
    schema = {
        "type": "object",
        "properties": {
            "into": {"type": "string", "pattern": VARIABLE_NAME_PATTERN, "title": "Variable",
                     "patternErrorMessage": "is not a variable name",
                     "description": "Flow variable that receives the digits."},
            "prompt": prompt_schema("What to play while waiting for the first digit."),
            "min_digits": {"type": "integer", "minimum": 1, "maximum": 128, "default": 1,
                           "description": "Fewest digits an entry may have."},
            "max_digits": {"type": "integer", "minimum": 1, "maximum": 128, "default": 1,
                           "description": "Most digits an entry may have; it ends when it has them."},
            "terminators": {"type": "string", "pattern": DTMF_KEYS, "default": "#",
                            "patternErrorMessage": "may hold only 0-9, * and #",
                            "description": "Keys that end the entry early (not stored)."},
            "cancel_key": {"type": "string", "pattern": "^[0-9*#]?$", "default": "*",
                           "patternErrorMessage": "must be one key (0-9, * or #) or empty",
                           "description": "Key that cancels the entry (on.cancelled); empty to disable."},
            "first_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                                    "description": "Seconds to wait for the first digit, after the prompt."},
            "inter_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 3,
                                    "description": "Seconds to wait between digits."},
            "barge_in": {"type": "boolean", "default": True,
                         "description": "Whether a key press stops the prompt."},
            "valid": {"type": "string", "title": "Valid pattern",
                      "description": "Regular expression the whole entry must match."},
            "choices": {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1,
                        "uniqueItems": True, "description": "The only accepted entries, e.g. [1, 2]."},
            "invalid_prompt": {**prompt_schema("Played after a rejected entry."),
                               "default": "ivr/ivr-that_was_an_invalid_entry.wav"},
            "retry_prompt": prompt_schema("Played instead of `prompt` on later attempts."),
            "max_attempts": {"type": "integer", "minimum": 1, "default": 3,
                             "description": "Attempts before on.too-many-failed-attempts (on.timeout, "
                                            "if set, when no attempt had a key)."},
            "on": on_schema({
                "timeout": "The caller keyed nothing in any attempt.",
                "cancelled": "The caller pressed the cancel key.",
                "too-many-failed-attempts": "Every attempt failed.",
            }, "Step ids to continue at for each way collecting can fail."),
        },
        "required": ["into"],
        "additionalProperties": False,
    }
    example = {"into": "choice", "prompt": "ivr/ivr-welcome.wav", "choices": [1, 2],
               "on": {"too-many-failed-attempts": "goodbye"}}

    @classmethod
    def check(cls, config):
        problems = []
        for key in ("prompt", "invalid_prompt", "retry_prompt"):
            problems += check_prompts(config.get(key), (key,))
        if config["min_digits"] > config["max_digits"]:
            problems.append((("min_digits",), f"min_digits ({config['min_digits']}) is more than "
                                              f"max_digits ({config['max_digits']})"))
        if "valid" in config:
            try:
                re.compile(config["valid"])
            except re.error as exc:
                problems.append((("valid",), f"'valid' is not a regular expression: {exc}"))
            if "choices" in config:
                problems.append((("valid",), "use either 'valid' or 'choices', not both"))
        for index, choice in enumerate(config.get("choices", [])):
            if not re.fullmatch(r"[0-9*#]+", str(choice)):
                problems.append((("choices", index), f"choice '{choice}' is not something a caller can key"))
            elif not config["min_digits"] <= len(str(choice)) <= config["max_digits"]:
                problems.append((("choices", index), f"choice '{choice}' does not fit min_digits..max_digits"))
        if config["cancel_key"] and config["cancel_key"] in config["terminators"]:
            problems.append((("cancel_key",), "the cancel key is also a terminator"))
        return problems

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def defined_variables(cls, config):
        return [config["into"]]

    def __init__(self, config, flow_language="en"):
        super().__init__(config, flow_language)
        self.choices = {str(choice) for choice in config.get("choices", [])} or None
        self.valid = re.compile(config["valid"]) if "valid" in config else None

    def _accepts(self, digits: str) -> bool:
        if not self.config["min_digits"] <= len(digits) <= self.config["max_digits"]:
            return False
        if self.choices is not None and digits not in self.choices:
            return False
        return self.valid is None or self.valid.fullmatch(digits) is not None

    def run(self, ctx: "FlowContext") -> StepResult:
        config = self.config
        first_prompts = build_prompts(ctx, config.get("prompt"))
        retry_prompts = build_prompts(ctx, config["retry_prompt"]) if "retry_prompt" in config else first_prompts
        invalid_prompts = build_prompts(ctx, config.get("invalid_prompt"))
        prompts, heard_nothing = first_prompts, True
        for attempt in range(1, config["max_attempts"] + 1):
            result = ctx.channel.collect_digits(
                prompts=prompts, min_digits=config["min_digits"], max_digits=config["max_digits"],
                terminators=config["terminators"], first_digit_timeout=config["first_digit_timeout"],
                inter_digit_timeout=config["inter_digit_timeout"], cancel_key=config["cancel_key"],
                barge_in=config["barge_in"])
            if result.status == "cancelled":
                return self._outcome(ctx, "cancelled")
            if result.status == "ok" and self._accepts(result.digits):
                ctx.set_variable(config["into"], result.digits)
                return None
            rejected = result.status != "timeout"  # keyed something (too short, wrong, a lone "#")
            heard_nothing = heard_nothing and not rejected
            ctx.log.info("collect into %s: attempt %d of %d %s", config["into"], attempt,
                         config["max_attempts"], "rejected" if rejected else "timed out")
            prompts = (invalid_prompts if rejected else []) + retry_prompts
        if not heard_nothing and invalid_prompts:
            play_prompts(ctx, invalid_prompts)
        if heard_nothing and "timeout" in config["on"]:
            return self._outcome(ctx, "timeout")
        return self._outcome(ctx, "too-many-failed-attempts")

    def _outcome(self, ctx, outcome: str):
        return continue_on(f"collect into '{self.config['into']}'", self.config, outcome)
