"""``send_sms``: text the caller a confirmation, with a random code recorded with the payment.

The text is a catalog template (``messages:`` in the flow's language) of fixed words filled
only with typed values (``orchestrator/sms/text.py``): the amount and currency, the card's
last four digits, the authorization code and the confirmation code. No name, no text a peer
sent, never more of a card than its last four.

With ``code`` (the default) a confirmation code of six random digits (``secrets``) is drawn,
recorded with the payment ``authorize`` made (``payment.id``: the store's
``confirmation_code``) before the text leaves, and put in ``confirmation.code`` for the flow
to say. The recipient is ``to`` (the caller's number unless set); one that is not a phone
number (digits, an optional leading +, 6 to 15 of them) takes ``on.error`` with nothing sent.
The provider (``sms_providers`` in the service config, or the call's tenant's own under
``tenants.<name>.sms_providers``; never another tenant's) answers ``sent``, ``error`` or
``timeout``; a text that may have arrived is never sent again (``sms/providers.py``).

Sets ``sms.result`` (sent, error, timeout), ``sms.message_id`` and ``confirmation.code``, and
publishes a ``TextSent`` event (purpose ``confirmation``, the result, the number masked), so an
agent's session shows whether the caller was texted (``agent/sessions.py``).
"""
import secrets
from typing import TYPE_CHECKING

from ...catalog import CatalogError
from ...payments.events import TextSent
from ...payments.money import Money, MoneyError
from ...sms import PHONE, SmsTextError, check_template, fill, mask_number
from ...store import StoreError
from ..step_api import (StepError, StepKind, StepResult, continue_on, missing_branches,
                        on_jump_targets, on_schema, register)
from ..prompts import catalog_renderer

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

CODE_DIGITS = 6


def confirmation_code() -> str:
    """Six digits from the operating system's random source, leading zeros kept."""
    return "%0*d" % (CODE_DIGITS, secrets.randbelow(10 ** CODE_DIGITS))

def sms_provider(ctx: "FlowContext", step: str, name: str):
    """The call's tenant's SMS provider ``name`` for step kind ``step`` (its own, or a top-level
    one granted to it); StepError naming the known ones when there is none, and saying so when
    the config holds it for another tenant (send_sms and send_payment_link text through the
    same ones)."""
    services = ctx.services
    providers = services.sms_providers if services else {}
    if name not in providers and services is not None and name in services.withheld_sms_providers:
        services.refuse("sms_provider")
        raise StepError("%s: SMS provider %r is not granted to tenant %s (its SMS providers: %s)"
                        % (step, name, services.tenant, ", ".join(sorted(providers)) or "none"))
    if name not in providers:
        raise StepError("%s: no SMS provider named %r in the service config (known: %s)"
                        % (step, name, ", ".join(sorted(providers)) or "none"))
    return providers[name]


def tell_texted(ctx: "FlowContext", purpose: str, result: str, to: str) -> None:
    """Publish what became of a text (``TextSent``): the recipient masked, never the text."""
    if ctx.services is not None:
        ctx.services.events.publish(TextSent(purpose=purpose, result=result, to=mask_number(to)))


# what an outcome with no branch does (validate warns of it)
UNHANDLED = ("the step would end the flow with an error, and the call in the dialplan's "
             "fallback instead of a branch of this flow")


@register
class SendSms(StepKind):
    name = "send_sms"
    title = "Send an SMS"
    description = ("Texts the caller a catalog message (fixed words, the amount, the card's last four, "
                   "a random confirmation code recorded with the payment) through an SMS provider.")
    schema = {
        "type": "object",
        "properties": {
            "provider": {"type": "string", "description": "An SMS provider name from the service config."},
            "message": {"type": "string", "default": "payment_confirmed",
                        "description": "A key of the catalog's messages."},
            "to": {"type": "string", "default": "${call.caller_id_number}",
                   "description": "The recipient's number (default: the caller's)."},
            "amount": {"type": ["string", "integer"], "default": "${amount}",
                       "description": "Minor units, said in the text in major units."},
            "currency": {"type": "string", "default": "${currency}", "description": "ISO 4217 code."},
            "code": {"type": "boolean", "default": True,
                     "description": "Draw a confirmation code, record it with the payment and put it in the text."},
            "language": {"type": "string", "description": "Overrides the call's language."},
            "on": on_schema({"error": "Not sent: a bad number, the provider refused or could not be reached.",
                             "timeout": "The provider did not answer in time (the text may have arrived)."}),
        },
        "required": ["provider"],
        "additionalProperties": False,
    }
    example = {"provider": "sms", "amount": "${chosen.amount}", "on": {"error": "goodbye"}}

    @classmethod
    def sms_providers(cls, config):
        return [(("provider",), config["provider"])]

    @classmethod
    def unhandled_outcomes(cls, config):
        return missing_branches(config, ("error", "timeout"), UNHANDLED)

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def defined_variables(cls, config):
        return ["sms.result", "sms.message_id", "confirmation.code"]

    @classmethod
    def catalog_keys(cls, config):
        return [(("message",), "messages", config["message"])]

    def prepare(self, ctx: "FlowContext") -> None:
        self._provider(ctx)

    def _provider(self, ctx: "FlowContext"):
        return sms_provider(ctx, self.name, self.config["provider"])

    def run(self, ctx: "FlowContext") -> StepResult:
        config, provider = self.config, self._provider(ctx)
        ctx.variables.update({"sms.result": "", "sms.message_id": "", "confirmation.code": ""})
        to = ctx.render(config["to"]).replace(" ", "")
        if not PHONE.match(to):
            ctx.log.warning("send_sms: the recipient is not a phone number; nothing sent")
            ctx.variables["sms.result"] = "error"
            tell_texted(ctx, "confirmation", "error", to)
            return continue_on("send_sms", config, "error")
        code = confirmation_code() if config["code"] else ""
        text = self._text(ctx, code)
        payment_id = ctx.variables.get("payment.id", "")
        if code and payment_id and ctx.services is not None and ctx.services.store is not None:
            try:
                ctx.services.store.confirm(payment_id, code)
            except StoreError as exc:
                raise StepError("send_sms: the confirmation code could not be recorded: %s" % exc)
        result = provider.send(to, text, payment_id or ctx.channel.uuid)
        if ctx.services is not None and ctx.services.on_sms is not None:
            ctx.services.on_sms(provider.name, result.outcome)
        ctx.variables.update({"sms.result": result.outcome, "sms.message_id": result.message_id,
                              "confirmation.code": code})
        tell_texted(ctx, "confirmation", result.outcome, to)
        if result.outcome == "sent":
            ctx.log.info("send_sms %s: sent (%s)", provider.name, result.message_id or "no id")
            return None
        ctx.log.warning("send_sms %s: %s (%s)", provider.name, result.outcome, result.detail)
        return continue_on("send_sms", config, result.outcome)

    def _text(self, ctx: "FlowContext", code: str) -> str:
        try:
            template = catalog_renderer(ctx, self.config.get("language")).catalog.message(self.config["message"])
            check_template(template)
        except (CatalogError, SmsTextError) as exc:
            raise StepError("send_sms: %s" % exc)
        values = {"last4": ctx.variables.get("card.last4", ""), "code": code,
                  "auth_code": ctx.variables.get("payment.auth_code", "")}
        amount, currency = ctx.render_optional(self.config["amount"]), ctx.render_optional(self.config["currency"])
        if amount and currency:
            try:
                money = Money.parse(amount, currency)
            except MoneyError as exc:
                raise StepError("send_sms: %s" % exc)
            values.update(amount=money.major_text, currency=money.currency)
        try:
            return fill(template, values)
        except SmsTextError as exc:
            raise StepError("send_sms %s: %s" % (self.config["message"], exc))
