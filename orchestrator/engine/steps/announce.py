"""``announce``: say a catalog prompt in the flow's language: an amount, a result, a reason.

Values come from the call unless given: ``amount``/``currency`` from the flow variables of
those names, ``last4`` from ``card.last4``, ``auth_code`` from ``payment.auth_code`` and ``code`` from
``confirmation.code`` (said one character at a time), ``reason`` in plain words for
``payment.decline_code``.
"""
from typing import TYPE_CHECKING, Any

from ...catalog import CatalogError
from ...payments.money import Money, MoneyError
from ..prompts import catalog_renderer, play_prompts
from ..step_api import StepError, StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Announce(StepKind):
    name = "announce"
    title = "Announce"
    description = ("Plays a prompt from the language catalog (amount_due, payment_approved, payment_declined, "
                   "payment_unconfirmed, goodbye, ...), filling amounts, last four digits and codes.")
    schema = {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "A key of the prompt catalog."},
            "amount": {"type": ["string", "integer"], "description": "Minor units (default ${amount})."},
            "currency": {"type": "string", "description": "ISO 4217 code (default ${currency})."},
            "last4": {"type": ["string", "integer"], "description": "Last four card digits (default ${card.last4})."},
            "auth_code": {"type": "string", "description": "Authorization code (default ${payment.auth_code})."},
            "reason": {"type": "string", "description": "Decline reason text (default: from the decline code)."},
            "code": {"type": "string", "description": "A confirmation code, spelled (default ${confirmation.code})."},
            "language": {"type": "string", "description": "Overrides the call's language for this prompt."},
        },
        "required": ["prompt"],
        "additionalProperties": False,
    }
    shorthand = "prompt"
    example = {"prompt": "payment_approved"}

    @classmethod
    def catalog_keys(cls, config):
        return [(("prompt",), "prompts", config["prompt"])]

    def run(self, ctx: "FlowContext") -> None:
        try:
            renderer = catalog_renderer(ctx, self.config.get("language"))
            prompts = renderer.prompts(self.config["prompt"], **self._params(ctx, renderer.catalog))
        except CatalogError as exc:
            raise StepError("announce %s: %s" % (self.config["prompt"], exc))
        play_prompts(ctx, prompts)

    def _params(self, ctx, catalog):
        config, known = self.config, ctx.variables

        def pick(key, default_variable):
            if key in config:
                return ctx.render(config[key])
            return known.get(default_variable, "")

        params = {"last4": pick("last4", "card.last4"), "auth_code": pick("auth_code", "payment.auth_code"),
                  "code": pick("code", "confirmation.code")}
        amount, currency = pick("amount", "amount"), pick("currency", "currency")
        params["amount"], params["currency"] = "", currency
        if amount and currency:
            try:
                money = Money.parse(amount, currency)
            except MoneyError as exc:
                raise StepError("announce: %s" % exc)
            params["amount"], params["currency"] = money.major_text, money.currency
        if "reason" in config:
            params["reason"] = ctx.render(config["reason"])
        else:
            params["reason"] = catalog.reason(known.get("payment.decline_code", ""))
        return params
