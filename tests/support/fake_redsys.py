"""A local stand-in for Redsys's trataPeticionREST, for the tests that speak to it over HTTPS:
it checks each request's signature, keeps each order's charge and refunds (more refunded than
charged is SIS0057), issues identifiers for cards on file ("pago por referencia":
DS_MERCHANT_IDENTIFIER=REQUIRED answers Ds_Merchant_Identifier, Ds_ExpiryDate and
Ds_Merchant_Cof_Txnid) and charges only identifiers it issued (SIS0431 otherwise). ``hang``
makes the next answers late by a second. Serve ``app(state)`` (``new_state()``) over HTTPS."""
import json

import gevent

from orchestrator.payments.gateways.redsys import decode_parameters, encode_parameters, sign

KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"
PAN = "4548812049400004"


def new_state():
    return {"requests": [], "charged": {}, "refunded": {}, "hang": 0, "identifiers": []}


def app(state):
    def serve(environ, start_response):
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
    return serve


def signed(order, **parameters):
    encoded = encode_parameters(dict({"Ds_Order": order}, **parameters))
    return {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
            "Ds_Signature": sign(KEY, order, encoded)}
