"""Redsys refunds ("devolución", DS_MERCHANT_TRANSACTIONTYPE 3) over the same REST interface.

A refund names the original order (our payment's key: ``target.payment_key``) and the amount
to give back, in full or in part; several partial refunds of one order are allowed, never
more in all than was charged (Redsys refuses that: SIS0057). It carries no card data. A
refund Redsys accepted answers ``Ds_Response`` 0900 ("transacción autorizada para
devoluciones y confirmaciones"); an ``errorCode`` or another ``Ds_Response`` is a refusal,
nothing refunded.

What Redsys cannot do here, said plainly: it takes no key of ours for a refund, so a re-sent
refund could refund twice; the connector never re-sends one whose answer was lost (the
refund is recorded ``unknown`` and settled from the Redsys portal, "Canales"), and the
journal's request key keeps a retried or double-clicked request from being sent at all. This
interface offers no query of a refund by key (``supports_refund_status`` False). A void: our
Redsys authorizations are type 0 (a charge, not a pre-authorisation), and type 9 cancels only
a pre-authorisation, so ``void`` is answered ``unsupported``; refund instead. Redsys's
"anulación" of a type 0 charge is not offered: its transaction type could not be verified
against Redsys's documentation here.
"""
from typing import TYPE_CHECKING, Any, Dict

from ..money import Money
from .refund_results import RefundRefused, RefundResult, RefundTarget, Refunded
from .results import GatewayError
from .transport import OutcomeUnknown

if TYPE_CHECKING:  # pragma: no cover
    from .redsys import RedsysGateway

REFUND = "3"
REFUND_ACCEPTED = "0900"
# SIS errors a refund may meet, as our refusal reasons (anything else: "refused", its code kept)
REFUSALS = {"SIS0057": "over_refund"}


def refund_once(gateway: "RedsysGateway", target: RefundTarget, money: Money) -> RefundResult:
    order = target.payment_key
    parameters = {
        "DS_MERCHANT_AMOUNT": str(money.minor),
        "DS_MERCHANT_ORDER": order,
        "DS_MERCHANT_MERCHANTCODE": gateway.merchant_code,
        "DS_MERCHANT_CURRENCY": money.numeric_code,
        "DS_MERCHANT_TRANSACTIONTYPE": REFUND,
        "DS_MERCHANT_TERMINAL": gateway.terminal,
    }
    reply = gateway.transport.call("POST", gateway.url, gateway.signed_body(order, parameters),
                                   {"Content-Type": "application/json"})
    if reply.status >= 500:
        raise OutcomeUnknown("http", "HTTP %d" % reply.status)
    data = reply.data if isinstance(reply.data, dict) else None
    if reply.status != 200 or data is None:
        raise OutcomeUnknown("protocol", "unexpected answer (HTTP %d)" % reply.status)
    return interpret(gateway, data, order)


def interpret(gateway: "RedsysGateway", data: Dict[str, Any], order: str) -> RefundResult:
    """A refund answer: Refunded (0900, signed, for our order), RefundRefused, or an error
    with the outcome unknown when the answer cannot be trusted."""
    error_code = data.get("errorCode")
    if error_code:
        code = str(error_code)
        return RefundRefused(REFUSALS.get(code, "refused"), code if code not in REFUSALS else "")
    parameters = gateway.verified_parameters(data, order)
    if isinstance(parameters, GatewayError):
        return parameters
    code = str(parameters.get("Ds_Response", "")).strip().zfill(4)
    amount = str(parameters.get("Ds_Amount", "")).strip()
    if code == REFUND_ACCEPTED and amount.isdigit():
        return Refunded(order + ":" + str(parameters.get("Ds_AuthorisationCode", "")).strip()[:12],
                        int(amount))
    if code.isdigit():
        return RefundRefused("refused", code)
    return GatewayError("protocol", True, "answer without Ds_Response")
