"""``say``: read a number, an amount or a digit string with FreeSWITCH's say module."""
from typing import TYPE_CHECKING

from ..prompts import SAY_KINDS, play_prompts, say_prompts
from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Say(StepKind):
    name = "say"
    title = "Say a number, amount or digits"
    description = ("Reads a value aloud in the call's language (or `language`): a number, digits, a date (YYYY-MM-DD) or, with kind currency, "
                   "an amount in minor units of `currency` (default ${currency}; 1234 EUR is said as twelve euros and thirty-four cents, "
                   "the currency's words from the catalog's money: section).")
    schema = {
        "type": "object",
        "properties": {
            "value": {"type": ["string", "number"], "title": "Value", "description": "What to say; ${...} allowed."},
            "kind": {"type": "string", "enum": SAY_KINDS, "default": "number",
                     "description": "number, currency (an amount) or digits (one digit at a time)."},
            "language": {"type": "string", "description": "Overrides the call's language for this step."},
            "currency": {"type": "string", "pattern": "^([A-Z]{3}|\\$\\{.+\\})$",
                         "patternErrorMessage": "must be an ISO 4217 code such as EUR (or a ${...} variable)",
                         "description": "ISO 4217 currency code of the amount (default ${currency}); only with kind currency."},
        },
        "required": ["value"],
        "additionalProperties": False,
    }
    shorthand = "value"
    example = {"value": "${amount}", "kind": "currency", "currency": "EUR"}

    @classmethod
    def check(cls, config):
        if "currency" in config and config.get("kind") != "currency":
            return [(("currency",), "'currency' only applies with kind: currency")]
        return []

    def run(self, ctx: "FlowContext") -> None:
        play_prompts(ctx, say_prompts(ctx, self.config["value"], self.config["kind"],
                                      self.config.get("language"), self.config.get("currency")))
