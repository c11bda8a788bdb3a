"""``authorize``: charge the keyed card through a gateway, once, and record what happened.

The payment is recorded ``pending`` before the gateway is called, so a crash in between leaves
a trace. The idempotency key names this payment attempt and nothing else: the gateway builds it
from what the ledger allocated and recorded first (a new UUID, the store's next payment
number), so a connector's retries reuse it, while a second card, a second flow run on the same
call or a run after a restart get new ones. An outcome the gateway could not confirm is never
re-sent under a new key: the flow takes its ``error`` branch and the record is flagged for
reconciliation (``payments/ledger.py`` writes the record). The card is wiped as soon as the
gateway has answered. If the call is stopped while the gateway is being asked (the service's
shutdown grace ran out), the record is written ``unknown`` and flagged on the way out.

An exception out of the gateway is an outcome too: once ``begin`` has written the record the
step cannot tell whether the request left, so it is ``GatewayError("internal",
outcome_unknown=True)``: recorded ``unknown`` and flagged, the flow takes ``error`` (the caller
hears that the payment could not be confirmed), and the exception, whose frames may hold the
card (``payments/gateways/failures.py``), goes no further. What must stop the call
(``GreenletExit``) goes on, stripped of its traceback.

Publishes ``Authorizing`` when the card is sent and ``PaymentApproved``, ``PaymentDeclined`` or
``PaymentFailed`` when the gateway has answered (``payments/events.py``): metrics, agent
sessions and the log count and show payments from those.

``details`` attaches what the payment is for (``{invoices: "${chosen.numbers}", customer:
"${customer_id}"}``): rendered when the card is charged, checked by ``payment_details.py``
(a few identifier keys; values are ids or invoice numbers, comma separated, no item with more
than 12 digits, so never a card number), kept with the payment and carried in its
``payment.result`` status callback. Details that break a rule charge nothing: the card is
wiped and the flow takes ``error`` (payment.error_kind ``invalid-details``); ``validate``
reports a key or a literal character that can never pass.

Card on file (``payments/gateways/tokens.py``, ``store/card_tokens.py``): ``store_card:
besides`` charges and has the gateway keep the card as its token; ``store_card: instead``
charges nothing (the gateway verifies the card and keeps it; the amount may be 0 or absent);
either keeps our record under ``customer`` and sets payment.card_token_id (our id, never the
gateway's token). ``card_token: ${...}`` charges a card kept earlier, merchant-initiated, with
no card entry: under the same ledger, key and unknown-outcome policy as a keyed card; an id
that is not the call's tenant's live card for this gateway charges nothing and takes
``error`` (payment.error_kind ``unknown-card-token``).

Sets payment.result (approved, declined, error; ``stored`` for ``store_card: instead``),
payment.auth_code, payment.transaction_id, payment.decline_code, payment.decline_reason,
payment.error_kind, payment.outcome_unknown, payment.card_token_id, payment.card_stored.
"""
import re
import time
import uuid
from typing import Dict, Optional

from ... import payment_details
from ...payments.events import (Authorizing, PaymentApproved, PaymentCardStored,
                                PaymentDeclined, PaymentEvent, PaymentFailed)
from ...payments.card import CardSummary
from ...payments.gateways import Approved, Declined, GatewayError, GatewayResult, failures
from ...payments.gateways.attempts import PaymentAttempt
from ...payments.gateways.tokens import BESIDES, INSTEAD, StoredCard, Tokenized
from ...payments.ledger import PaymentLedger
from ...payments.money import Money, MoneyError
from ...store.card_tokens import CardTokenTable, check_customer
from ...store.errors import StoreError
from ..call_language import decline_words
from ..expressions import ExpressionError, Template
from ..step_api import (StepError, StepKind, continue_on, on_jump_targets, on_schema,
                        register)

RESULT_VARIABLES = ("payment.result", "payment.auth_code", "payment.transaction_id",
                    "payment.decline_code", "payment.decline_reason", "payment.error_kind",
                    "payment.outcome_unknown", "payment.id", "payment.card_token_id",
                    "payment.card_stored")


@register
class Authorize(StepKind):
    name = "authorize"
    title = "Authorize the payment"
    description = ("Sends the keyed card to a gateway named in the service config and branches on the "
                   "answer. Needs collect_card before it, except to charge a stored card "
                   "(card_token). store_card keeps the card on file as the gateway's token, "
                   "besides the charge or instead of it.")
    schema = {
        "type": "object",
        "properties": {
            "gateway": {"type": "string", "description": "A gateway name from the service config."},
            "amount": {"type": ["string", "integer"], "default": "${amount}",
                       "description": "Integer minor units (1250 = 12.50 EUR)."},
            "currency": {"type": "string", "default": "${currency}", "description": "ISO 4217 code."},
            "reference": {"type": "string", "default": "${reference}",
                          "description": "Your reference for the payment (an order or invoice number)."},
            "details": {"type": "object", "maxProperties": payment_details.MAX_KEYS,
                        "additionalProperties": {"type": "string",
                                                 "maxLength": payment_details.MAX_VALUE},
                        "description": "What the payment is for, kept with it and sent in its "
                                       "payment.result callback: at most 8 lower-case keys, each "
                                       "an id or a comma-separated list of ids or invoice numbers "
                                       "(no item with more than 12 digits)."},
            "store_card": {"enum": [BESIDES, INSTEAD],
                           "description": "Keep the card on file as the gateway's token: besides "
                                          "the charge, or instead of it (nothing charged: the "
                                          "card is verified and kept). Needs customer."},
            "customer": {"type": "string",
                         "description": "The customer reference a stored card is kept under "
                                        "(an id, never a card number)."},
            "card_token": {"type": "string",
                           "description": "Charge a card kept earlier (its payment.card_token_id),"
                                          " merchant-initiated, with no card entry."},
            "on": on_schema({"declined": "Where to go when the card is declined.",
                             "error": "Where to go when the outcome is an error or unknown."}),
        },
        "required": ["gateway"],
        "additionalProperties": False,
    }
    example = {"gateway": "sandbox", "on": {"declined": "declined", "error": "back_to_agent"}}

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def check(cls, config):
        """Details keys that break the key rule, values that can never pass: a literal value
        checked whole, the text around ``${...}`` checked for its characters; card on file
        asked for without a customer, or together with a stored card's charge."""
        problems = []
        if config.get("store_card") and not config.get("customer"):
            problems.append((("store_card",), "store_card needs customer: the customer "
                             "reference the card is kept under"))
        if config.get("store_card") and config.get("card_token"):
            problems.append((("card_token",), "card_token charges a card already stored: it "
                             "cannot go with store_card"))
        for key, value in (config.get("details") or {}).items():
            try:
                payment_details.check_key(key)
            except payment_details.DetailsError as error:
                problems.append((("details", key), str(error)))
                continue
            literal = _TEMPLATE_PART.sub("", value)
            if literal == value:
                try:
                    payment_details.check_value(key, value)
                except payment_details.DetailsError as error:
                    problems.append((("details", key), str(error)))
            elif not re.fullmatch(payment_details.VALUE_CHARACTERS, literal):
                problems.append((("details", key), "details.%s holds characters no value may "
                                 "(letters, digits, _ . : / # - and commas only)" % key))
        return problems

    @classmethod
    def gateways(cls, config):
        return [(("gateway",), config["gateway"])]

    @classmethod
    def card_on_file(cls, config):
        """The card-on-file modes the step needs of its gateway (``tokens.MODES``), each with
        where it is asked for: what ``validate`` checks the gateway's type offers."""
        needs = []
        if config.get("store_card"):
            needs.append((("store_card",), config["gateway"], config["store_card"]))
        if config.get("card_token"):
            needs.append((("card_token",), config["gateway"], "charge"))
        return needs

    @classmethod
    def defined_variables(cls, config):
        return list(RESULT_VARIABLES)

    def prepare(self, ctx):
        """Bad amounts, and a gateway the call's tenant has not been granted, stop the flow
        before the caller is asked for anything. An amount a step sets on the way (the
        invoices ``choose_from_list`` totals) is not known yet: it is checked when charged."""
        try:
            if self.config.get("store_card") != INSTEAD:
                self._money(ctx)
        except ExpressionError:
            if not self._set_on_the_way(ctx):
                raise
        services, name = ctx.services, self.config["gateway"]
        gateways = services.gateways if services else {}
        if name in gateways:
            return
        known = ", ".join(sorted(gateways)) or "none"
        if services is not None and name in services.withheld_gateways:
            services.refuse("gateway")
            raise StepError("authorize: gateway %r is not granted to tenant %s (its gateways: %s)"
                            % (name, services.tenant, known))
        raise StepError("authorize: no gateway named %r in the service config (known: %s)"
                        % (name, known))

    def _set_on_the_way(self, ctx) -> bool:
        """Whether every variable of the amount and currency that is not known yet is one a
        step of this flow sets (run() checks them when the card is charged)."""
        later = {name for step in ctx.flow.steps
                 for name in type(step.action).defined_variables(step.action.config)}
        names = [name for key in ("amount", "currency")
                 for name in Template.parse(str(self.config[key])).variables]
        unknown = [name for name in names if not ctx.render_optional("${%s}" % name)]
        return all(name in later for name in unknown)

    def _money(self, ctx):
        try:
            return Money.parse(ctx.render(self.config["amount"]), ctx.render(self.config["currency"]))
        except MoneyError as exc:
            raise StepError("authorize: %s" % exc)

    def run(self, ctx):
        if self.config.get("card_token"):
            return self._charge_stored(ctx)
        card = ctx.card
        if card is None or card.wiped or not card.has_number:
            raise StepError("authorize needs a card: put collect_card before it")
        self.prepare(ctx)
        services, name = ctx.services, self.config["gateway"]
        mode = self.config.get("store_card")
        if mode and mode not in services.gateways[name].card_on_file_modes():
            # validate refuses this against the config; a gateway changed under a running
            # flow is refused here, before anything is recorded or charged
            card.wipe()
            ctx.log.error("authorize: gateway %s cannot store_card: %s; nothing charged",
                          name, mode)
            self._failed(ctx, "unsupported")
            return continue_on("authorize", self.config, "error")
        customer = self._customer(ctx, card) if mode else ""
        if customer is None:
            return continue_on("authorize", self.config, "error")
        if mode == INSTEAD:
            return self._tokenize(ctx, card, customer)
        gateway, money = services.gateways[name], self._money(ctx)
        reference = ctx.render(self.config["reference"])
        try:
            details = self._details(ctx)
        except payment_details.DetailsError as error:
            card.wipe()
            ctx.log.error("authorize: nothing charged: %s", error)
            values = dict.fromkeys(RESULT_VARIABLES, "")
            values.update({"payment.result": "error", "payment.error_kind": "invalid-details",
                           "payment.outcome_unknown": "false"})
            ctx.variables.update(values)
            return continue_on("authorize", self.config, "error")
        summary = card.summary
        ledger = PaymentLedger(services.store)
        begun = ledger.begin(money=money, gateway=name, key_for=gateway.idempotency_key,
                             summary=summary, call_uuid=ctx.channel.uuid,
                             tenant=services.tenant, flow=ctx.flow.name, reference=reference,
                             details=details)
        payment_id = begun.payment_id
        services.events.publish(Authorizing(gateway=name, payment_id=payment_id,
                                            brand=summary.brand, last4=summary.last4))
        started = time.monotonic()
        extra = {"store_card": True} if mode == BESIDES else {}
        try:
            result = self._authorize(ctx, lambda: gateway.authorize(
                money.minor, money.currency, reference, card, begun.idempotency_key, **extra),
                card)
        except BaseException:   # stopped while the gateway was asked (see the module docstring)
            self._interrupted(ctx, ledger, payment_id)
            raise
        return self._answered(ctx, ledger, payment_id, result, started,
                              customer if mode == BESIDES else "")

    def _answered(self, ctx, ledger, payment_id, result, started, customer):
        """Write the answer, keep the card it carries (``customer``: one was asked for), set
        the variables, publish, branch."""
        services, name = ctx.services, self.config["gateway"]
        seconds = time.monotonic() - started
        if ledger.finish(payment_id, result) == "unknown":
            ctx.log.warning("payment %s outcome unknown (%s): marked for reconciliation",
                            payment_id, result.kind)
        self._set_variables(ctx, payment_id, result)
        if customer and isinstance(result, Approved):
            self._keep(ctx, customer, result.card_token, payment_id)
        services.events.publish(_answered(name, payment_id, result, seconds))
        if isinstance(result, Approved):
            return None
        return continue_on("authorize", self.config,
                           "declined" if isinstance(result, Declined) else "error")

    def _details(self, ctx) -> Dict[str, str]:
        """The details rendered and checked (DetailsError names the key and the rule)."""
        rendered = {key: ctx.render(value) for key, value in (self.config.get("details") or {}).items()}
        return payment_details.check(rendered)

    def _authorize(self, ctx, ask, card=None) -> GatewayResult:
        """The gateway's answer to ``ask()``; an exception out of it is an answer too (see
        the module docstring), and the card (if any) is wiped on every path."""
        failure: Optional[GatewayError] = None
        escaping: Optional[BaseException] = None
        try:
            return ask()
        except Exception as error:
            failure = failures.unexpected(error, outcome_unknown=True)
        except BaseException as error:
            escaping = failures.stripped(error)
        finally:
            if card is not None:
                card.wipe()
        # outside the except blocks: nothing is chained back on
        if escaping is not None:
            raise escaping
        assert failure is not None   # the call returned, or one of the handlers ran
        ctx.log.error("authorize: gateway %s failed: %s", self.config["gateway"], failure.detail)
        return failure

    # -- card on file --------------------------------------------------------------------------
    def _customer(self, ctx, card) -> Optional[str]:
        """The customer reference to keep a card under, checked; None (the card wiped, the
        variables set for ``error``) when it breaks the rule: nothing charged or stored."""
        try:
            return check_customer(ctx.render(self.config["customer"]))
        except (StoreError, ExpressionError) as error:
            card.wipe()
            ctx.log.error("authorize: nothing charged or stored: %s", error)
            self._failed(ctx, "invalid-customer")
            return None

    def _failed(self, ctx, kind: str) -> None:
        values = dict.fromkeys(RESULT_VARIABLES, "")
        values.update({"payment.result": "error", "payment.error_kind": kind,
                       "payment.outcome_unknown": "false", "payment.card_stored": "false"})
        ctx.variables.update(values)

    def _keep(self, ctx, customer, token, payment_id="") -> bool:
        """Record the card the gateway kept; payment.card_token_id names it."""
        services = ctx.services
        if token is None or services.store is None:
            ctx.log.error("authorize: the card was not kept on file (%s)" % (
                "the gateway gave no token" if token is None else "no store"))
            ctx.variables["payment.card_stored"] = "false"
            return False
        try:
            row = CardTokenTable(services.store).add(
                tenant=services.tenant, customer=customer, gateway=self.config["gateway"],
                token=token, payment_id=payment_id)
        except StoreError as error:
            ctx.log.error("authorize: the card could not be kept on file: %s", error)
            ctx.variables["payment.card_stored"] = "false"
            return False
        ctx.variables.update({"payment.card_token_id": row["id"], "payment.card_stored": "true"})
        ctx.log.info("card kept on file: %s ...%s as %s", row["brand"], row["last4"], row["id"])
        services.events.publish(PaymentCardStored(self.config["gateway"], row["id"], row["brand"],
                                                  row["last4"], customer, payment_id))
        return True

    def _tokenize(self, ctx, card, customer):
        """``store_card: instead``: the gateway verifies and keeps the card, nothing charged."""
        services, name = ctx.services, self.config["gateway"]
        gateway = services.gateways[name]
        reference = ctx.render_optional(self.config["reference"]) or "card-on-file"
        if services.store is None:
            card.wipe()
            ctx.log.error("authorize: store_card needs the payment store: nothing stored")
            self._failed(ctx, "no-store")
            return continue_on("authorize", self.config, "error")
        # a key of the gateway's own form (a Redsys order), from the store's numbering
        key = gateway.idempotency_key(PaymentAttempt(str(uuid.uuid4()),
                                                     services.store.next_number(),
                                                     services.store.tag))
        result = self._authorize(ctx, lambda: gateway.tokenize(card, reference, key), card)
        values = dict.fromkeys(RESULT_VARIABLES, "")
        values["payment.card_stored"] = "false"
        if isinstance(result, Tokenized):
            values["payment.result"] = "stored"
            ctx.variables.update(values)
            return None if self._keep(ctx, customer, result.token) else \
                continue_on("authorize", self.config, "error")
        if isinstance(result, Declined):
            values.update({"payment.result": "declined", "payment.decline_code": result.reason_code,
                           "payment.decline_reason": decline_words(ctx, result.reason_code,
                                                                   result.reason_text)})
            ctx.variables.update(values)
            return continue_on("authorize", self.config, "declined")
        values.update({"payment.result": "error", "payment.error_kind": result.kind,
                       "payment.outcome_unknown": "false"})   # nothing is charged either way
        ctx.variables.update(values)
        return continue_on("authorize", self.config, "error")

    def _charge_stored(self, ctx):
        """``card_token``: charge the tenant's stored card, merchant-initiated."""
        self.prepare(ctx)
        services, name = ctx.services, self.config["gateway"]
        gateway, money = services.gateways[name], self._money(ctx)
        reference = ctx.render(self.config["reference"])
        card_id = ctx.render_optional(self.config["card_token"]) or ""
        row = CardTokenTable(services.store).get(services.tenant, card_id) \
            if services.store is not None else None
        if row is None or row["gateway"] != name:
            ctx.log.error("authorize: no stored card %r for tenant %s on gateway %s: nothing "
                          "charged", card_id[:64], services.tenant, name)
            self._failed(ctx, "unknown-card-token")
            return continue_on("authorize", self.config, "error")
        try:
            details = self._details(ctx)
        except payment_details.DetailsError as error:
            ctx.log.error("authorize: nothing charged: %s", error)
            self._failed(ctx, "invalid-details")
            return continue_on("authorize", self.config, "error")
        summary = CardSummary(row["brand"], "", row["last4"], "*" * 12 + row["last4"])
        stored = StoredCard(row["gateway_token"], row["brand"], row["last4"],
                            row["network_reference"] or "")
        ledger = PaymentLedger(services.store)
        begun = ledger.begin(money=money, gateway=name, key_for=gateway.idempotency_key,
                             summary=summary, call_uuid=ctx.channel.uuid,
                             tenant=services.tenant, flow=ctx.flow.name, reference=reference,
                             details=details)
        services.events.publish(Authorizing(gateway=name, payment_id=begun.payment_id,
                                            brand=row["brand"], last4=row["last4"]))
        started = time.monotonic()
        try:
            result = self._authorize(ctx, lambda: gateway.charge_token(
                money, reference, stored, begun.idempotency_key))
        except BaseException:
            self._interrupted(ctx, ledger, begun.payment_id)
            raise
        branch = self._answered(ctx, ledger, begun.payment_id, result, started, "")
        ctx.variables["payment.card_token_id"] = row["id"]
        return branch

    @staticmethod
    def _interrupted(ctx, ledger, payment_id):
        if not payment_id:
            return
        try:
            ledger.interrupted(payment_id)
        except Exception as error:   # the stop goes on; the record stays pending for reconcile
            ctx.log.error("payment %s interrupted; its record could not be updated: %s",
                          payment_id, type(error).__name__)
            return
        ctx.log.warning("payment %s interrupted before the gateway answered: marked for "
                        "reconciliation", payment_id)

    @staticmethod
    def _set_variables(ctx, payment_id, result):
        values = dict.fromkeys(RESULT_VARIABLES, "")
        values["payment.result"] = result.status
        values["payment.id"] = payment_id
        if result.status == "approved":
            values["payment.auth_code"] = result.auth_code
            values["payment.transaction_id"] = result.transaction_id
        elif result.status == "declined":
            values["payment.decline_code"] = result.reason_code
            values["payment.decline_reason"] = decline_words(ctx, result.reason_code, result.reason_text)
        else:
            values["payment.error_kind"] = result.kind
            values["payment.outcome_unknown"] = "true" if result.outcome_unknown else "false"
        ctx.variables.update(values)


_TEMPLATE_PART = re.compile(r"\$\{[^}]*\}")


def _answered(gateway: str, payment_id: str, result: GatewayResult, seconds: float) -> PaymentEvent:
    """The event for the gateway's answer."""
    if isinstance(result, Approved):
        return PaymentApproved(gateway, payment_id, result.auth_code, seconds)
    if isinstance(result, Declined):
        return PaymentDeclined(gateway, payment_id, result.reason_code, result.reason_text, seconds)
    return PaymentFailed(gateway, payment_id, result.kind, result.outcome_unknown, seconds)
