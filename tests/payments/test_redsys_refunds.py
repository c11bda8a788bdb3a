"""Redsys refunds (transaction type 3) against a local stand-in for trataPeticionREST over
HTTPS that keeps each order's charge and refunds (and, for test_redsys_card_on_file.py, the
identifiers it issued): the request carries no card data and names
the original order; partial refunds add up; more than was charged is SIS0057, refused; a lost
answer is never re-sent; a void is unsupported (type 9 cancels only pre-authorisations)."""
import json

import gevent
import pytest

from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.gateways.redsys import (decode_parameters, encode_parameters,
                                                   order_number, sign)
from orchestrator.payments.gateways.refund_results import RefundRefused, RefundTarget, Refunded
from orchestrator.payments.money import Money
from tests.support.cards import make_card

KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"
PAN = "4548812049400004"


@pytest.fixture
def redsys(https_server):
    state = {"requests": [], "charged": {}, "refunded": {}, "hang": 0, "identifiers": []}

    def app(environ, start_response):
        body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        parameters = decode_parameters(body["Ds_MerchantParameters"])
        order, amount = parameters["DS_MERCHANT_ORDER"], int(parameters["DS_MERCHANT_AMOUNT"])
        state["requests"].append(parameters)
        kind = parameters["DS_MERCHANT_TRANSACTIONTYPE"]
        if body["Ds_Signature"] != sign(KEY, order, body["Ds_MerchantParameters"]):
            answer = {"errorCode": "SIS0042"}
        elif kind == "0" and parameters.get("DS_MERCHANT_IDENTIFIER", "REQUIRED") != "REQUIRED":
            # a charge of a stored card ("pago por referencia"): an identifier it issued
            if parameters["DS_MERCHANT_IDENTIFIER"] not in state["identifiers"]:
                answer = {"errorCode": "SIS0431"}
            else:
                state["charged"][order] = amount
                answer = signed(order, Ds_Response="0000", Ds_Amount=str(amount),
                                Ds_AuthorisationCode="654322")
        elif kind == "0":
            if amount:
                state["charged"][order] = amount
            extra = {}
            if parameters.get("DS_MERCHANT_IDENTIFIER") == "REQUIRED":
                identifier = "%040x" % (0xA11CE + len(state["identifiers"]))
                state["identifiers"].append(identifier)
                extra = {"Ds_Merchant_Identifier": identifier, "Ds_ExpiryDate": "3012",
                         "Ds_Merchant_Cof_Txnid": "MCC0123456789X"}
            answer = signed(order, Ds_Response="0000", Ds_Amount=str(amount),
                            Ds_AuthorisationCode="654321", **extra)
        elif kind == "3" and state["refunded"].get(order, 0) + amount > state["charged"].get(order, 0):
            answer = {"errorCode": "SIS0057"}
        else:
            state["refunded"][order] = state["refunded"].get(order, 0) + amount
            answer = signed(order, Ds_Response="0900", Ds_Amount=str(amount),
                            Ds_AuthorisationCode="777111", Ds_TransactionType="3")
        if state["hang"]:
            state["hang"] -= 1
            gevent.sleep(1.0)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    state["url"] = https_server(app) + "/sis/rest/trataPeticionREST"
    return state


def signed(order, **parameters):
    encoded = encode_parameters(dict({"Ds_Order": order}, **parameters))
    return {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
            "Ds_Signature": sign(KEY, order, encoded)}


@pytest.fixture
def gateway(redsys, tls_files):
    gateway = build_gateway("redsys", {"type": "redsys", "merchant_code": "999008881",
                                       "terminal": 1, "secret_key": KEY, "url": redsys["url"],
                                       "verify": tls_files[0], "read_timeout": 0.3})
    yield gateway
    gateway.close()


def charged(gateway, number):
    order = order_number("4821", number)
    assert gateway.authorize(1000, "EUR", "r", make_card(PAN), order).status == "approved"
    return RefundTarget(order, order, "654321", 1000, "EUR")


def test_partial_refunds_add_up_and_more_is_refused(gateway, redsys):
    target = charged(gateway, 1)
    assert gateway.refund(target, Money(600, "EUR"), "rf-0000001") == \
        Refunded(target.payment_key + ":777111", 600)
    refund = redsys["requests"][-1]
    assert refund == {"DS_MERCHANT_AMOUNT": "600", "DS_MERCHANT_ORDER": target.payment_key,
                      "DS_MERCHANT_MERCHANTCODE": "999008881", "DS_MERCHANT_CURRENCY": "978",
                      "DS_MERCHANT_TRANSACTIONTYPE": "3", "DS_MERCHANT_TERMINAL": "1"}
    assert PAN not in json.dumps(refund)
    assert gateway.refund(target, Money(500, "EUR"), "rf-0000002") == RefundRefused("over_refund")
    assert gateway.refund(target, Money(400, "EUR"), "rf-0000003").status == "succeeded"
    assert redsys["refunded"][target.payment_key] == 1000


def test_a_lost_refund_answer_is_not_sent_again_and_stays_unknown(gateway, redsys):
    target = charged(gateway, 2)
    redsys["hang"] = 1
    answer = gateway.refund(target, Money(300, "EUR"), "rf-0000004")
    assert answer.kind == "timeout" and answer.outcome_unknown
    assert [r["DS_MERCHANT_TRANSACTIONTYPE"] for r in redsys["requests"]] == ["0", "3"]
    assert gateway.refund_status("rf-0000004").kind == "unsupported"


def test_a_void_is_not_offered(gateway, redsys):
    target = charged(gateway, 3)
    assert gateway.void(target, "rf-0000005") == RefundRefused("unsupported")
    assert [r["DS_MERCHANT_TRANSACTIONTYPE"] for r in redsys["requests"]] == ["0"]
