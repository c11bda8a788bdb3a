"""``send_payment_link``: text the caller a link to pay outside the call.

Instead of keying a card, the caller is texted a payment link. The payment is recorded first
(``store/links.py``: status ``link_sent``, with the amount, currency, reference, details and
tenant, and an unguessable token of 32 random letters), so the gateway's webhook always finds
it; then the link's URL is made by the ``payment_links`` entry named by ``link``
(the call's tenant's own, or a top-level one granted to it, never another tenant's;
``orchestrator/links``: a URL template holding ``{token}``, or a gateway call that makes a
hosted page), and texted with a catalog message (``message``, default ``payment_link``) whose
only values are the amount, the currency and the URL (``sms/text.py`` checks each one's shape:
the URL is https or a loopback sandbox's, and never card-like). No card is asked for or held.

The payment completes outside the call: the gateway reports it paid (or expired, failed) to
``POST /webhooks/links/<link>`` (``links/webhook.py``), which settles it once and sends its
``payment.result`` status callback like any other outcome. The link can be paid for the
entry's ``expires_after`` seconds; a "paid" notice after that is flagged, not accepted, and
the running service declines the link (``link_expired``: ``links/expiry.py``).

Outcomes: ``sent`` (the next step), ``error``: no ``payment_links`` entry of that name for
the call's tenant (one held by another tenant is refused and counted), a
recipient that is not a phone number or details that break a rule (nothing recorded), the link could not be made, or the SMS provider
refused it (the payment is recorded ``error``: nobody can pay it), or did not answer in time
(the text may have arrived, so the link stays payable; ``sms.result`` says ``timeout``).

Sets ``link.result`` (sent, error), ``payment.id``, ``sms.result`` and ``sms.message_id``, and
publishes a ``TextSent`` event (purpose ``link``, the SMS result, the number masked) once the
provider has answered. The URL and its token are in no variable, event or log line: they reach
only the text and the store.
"""
import time
from typing import TYPE_CHECKING

from ... import payment_details
from ...catalog import CatalogError
from ...links import LinkError
from ...payments.money import Money, MoneyError
from ...sms import SmsTextError, check_template, fill
from ...store import StoreError
from ...store.links import LINK_SENT, PaymentLinks, new_token
from ..step_api import (StepError, StepKind, StepResult, continue_on, missing_branches,
                        on_jump_targets, on_schema, register)
from ..prompts import catalog_renderer
from .send_sms import PHONE, UNHANDLED, sms_provider, tell_texted

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

VARIABLES = ("link.result", "payment.id", "sms.result", "sms.message_id")


@register
class SendPaymentLink(StepKind):
    name = "send_payment_link"
    title = "Text a payment link"
    description = ("Records a payment to be made outside the call and texts the caller a link to pay "
                   "it (a URL template or a gateway's hosted page); the gateway's signed webhook "
                   "marks it paid.")
    schema = {
        "type": "object",
        "properties": {
            "link": {"type": "string", "description": "A payment_links name from the service config."},
            "provider": {"type": "string", "description": "An SMS provider name from the service config."},
            "message": {"type": "string", "default": "payment_link",
                        "description": "A key of the catalog's messages: {amount} {currency} {url} only."},
            "to": {"type": "string", "default": "${call.caller_id_number}",
                   "description": "The recipient's number (default: the caller's)."},
            "amount": {"type": ["string", "integer"], "default": "${amount}",
                       "description": "Integer minor units."},
            "currency": {"type": "string", "default": "${currency}", "description": "ISO 4217 code."},
            "reference": {"type": "string", "default": "${reference}",
                          "description": "Your reference for the payment."},
            "details": {"type": "object", "maxProperties": payment_details.MAX_KEYS,
                        "additionalProperties": {"type": "string",
                                                 "maxLength": payment_details.MAX_VALUE},
                        "description": "What the payment is for, as authorize's details."},
            "language": {"type": "string", "description": "Overrides the call's language."},
            "on": on_schema({"error": "No link texted: a bad number or details, the link not "
                                      "made, the SMS not sent (or not known to be)."}),
        },
        "required": ["link", "provider"],
        "additionalProperties": False,
    }
    example = {"link": "paylink", "provider": "sms", "amount": "${chosen.amount}",
               "on": {"error": "agent"}}

    @classmethod
    def sms_providers(cls, config):
        return [(("provider",), config["provider"])]

    @classmethod
    def payment_links(cls, config):
        return [(("link",), config["link"])]

    @classmethod
    def unhandled_outcomes(cls, config):
        return missing_branches(config, ("error",), UNHANDLED)

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def defined_variables(cls, config):
        return list(VARIABLES)

    @classmethod
    def catalog_keys(cls, config):
        return [(("message",), "messages", config["message"])]

    def prepare(self, ctx: "FlowContext") -> None:
        """The SMS provider must exist before the caller is asked anything; a missing payment
        link only takes ``on.error`` when the caller chooses it (a collections flow offers the
        link beside the card: a site without ``payment_links`` still takes cards)."""
        self._provider(ctx)

    def _maker(self, ctx: "FlowContext"):
        """The call's tenant's entry (its own, or a top-level one granted to it), or None."""
        makers = ctx.services.payment_links if ctx.services else {}
        return makers.get(self.config["link"])

    def _withheld(self, ctx: "FlowContext") -> bool:
        services = ctx.services
        return services is not None and self.config["link"] in services.withheld_payment_links

    def _provider(self, ctx: "FlowContext"):
        return sms_provider(ctx, self.name, self.config["provider"])

    def run(self, ctx: "FlowContext") -> StepResult:
        config, maker, provider = self.config, self._maker(ctx), self._provider(ctx)
        services = ctx.services
        if services is None or services.store is None:
            raise StepError("send_payment_link needs the payment store")
        ctx.variables.update(dict.fromkeys(VARIABLES, ""))
        ctx.variables["link.result"] = "error"
        if maker is None and self._withheld(ctx):
            services.refuse("payment_link")
            ctx.log.error("send_payment_link: payment link %r is not granted to tenant %s; "
                          "nothing sent", config["link"], services.tenant)
            return continue_on("send_payment_link", config, "error")
        if maker is None:
            ctx.log.error("send_payment_link: no payment link named %r in the service config "
                          "(payment_links); nothing sent", config["link"])
            return continue_on("send_payment_link", config, "error")
        to = ctx.render(config["to"]).replace(" ", "")
        if not PHONE.match(to):
            ctx.log.warning("send_payment_link: the recipient is not a phone number; nothing sent")
            tell_texted(ctx, "link", "error", to)
            return continue_on("send_payment_link", config, "error")
        money, template = self._money(ctx), self._template(ctx)
        try:
            details = payment_details.check(
                {key: ctx.render(value) for key, value in (config.get("details") or {}).items()})
        except payment_details.DetailsError as error:
            ctx.log.error("send_payment_link: nothing recorded: %s", error)
            return continue_on("send_payment_link", config, "error")
        token, expires = new_token(), time.time() + maker.expires_after
        reference = ctx.render(config["reference"])
        links = PaymentLinks(services.store)
        try:
            payment_id = links.record(token=token, link=maker.name, amount_minor=money.minor,
                                      currency=money.currency, expires=expires,
                                      reference=reference, tenant=services.tenant,
                                      call_uuid=ctx.channel.uuid, flow=ctx.flow.name,
                                      details=details)
        except StoreError as error:
            raise StepError("send_payment_link: the payment could not be recorded: %s" % error)
        ctx.variables["payment.id"] = payment_id
        try:
            text = fill(template, {"amount": money.major_text, "currency": money.currency,
                                   "url": maker.make(token, money, reference, expires)})
        except (LinkError, SmsTextError) as error:
            ctx.log.error("send_payment_link %s: no link for payment %s: %s", maker.name,
                          payment_id, error)
            tell_texted(ctx, "link", "error", to)
            return self._failed(ctx, links, payment_id, "link_not_made")
        result = provider.send(to, text, payment_id)
        if services.on_sms is not None:
            services.on_sms(provider.name, result.outcome)
        ctx.variables.update({"sms.result": result.outcome, "sms.message_id": result.message_id})
        tell_texted(ctx, "link", result.outcome, to)
        if result.outcome == "sent":
            ctx.variables["link.result"] = "sent"
            ctx.log.info("send_payment_link %s: payment %s texted (%s)", maker.name, payment_id,
                         result.message_id or "no id")
            return None
        if result.outcome == "timeout":
            ctx.log.warning("send_payment_link %s: the SMS for payment %s may have arrived (%s); "
                            "its link stays payable", maker.name, payment_id, result.detail)
            return continue_on("send_payment_link", config, "error")
        ctx.log.warning("send_payment_link %s: the SMS for payment %s was not sent (%s)",
                        maker.name, payment_id, result.detail)
        return self._failed(ctx, links, payment_id, "link_not_sent")

    def _failed(self, ctx: "FlowContext", links: PaymentLinks, payment_id: str,
                kind: str) -> StepResult:
        """Nobody can pay this link: the payment is recorded ``error`` (its callback says so)."""
        links.store.finish(payment_id, "error", from_status=LINK_SENT, error_kind=kind)
        return continue_on("send_payment_link", self.config, "error")

    def _money(self, ctx: "FlowContext") -> Money:
        try:
            return Money.parse(ctx.render(self.config["amount"]), ctx.render(self.config["currency"]))
        except MoneyError as exc:
            raise StepError("send_payment_link: %s" % exc)

    def _template(self, ctx: "FlowContext") -> str:
        try:
            template = catalog_renderer(ctx, self.config.get("language")).catalog.message(self.config["message"])
            check_template(template)
        except (CatalogError, SmsTextError) as exc:
            raise StepError("send_payment_link: %s" % exc)
        return template
