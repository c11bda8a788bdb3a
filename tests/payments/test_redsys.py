"""Redsys: signature vectors from published examples, and the REST exchange against a local
fake Redsys endpoint over HTTPS.

Vectors:
- Merchant key ``Mk9m98IfEblmPfrpsawt7BmxObt98Jev``, order ``1`` -> per-order key
  ``Lr6bLJYWKrk=``, and the merchant parameters below -> ``3TEI5Wyv...gj+E=``: the example
  of Redsys's HMAC-SHA256 API, as published in the tests of the npm package node-redsys-api
  (github.com/VonShtirlitz/node-redsys-api, test/api-redsys.js).
- The REST request of Redsys's integration manual (order 1446068581, amount 145, EUR,
  merchant 999008881, terminal 1, test card 4548812049400004) and its answer (Ds_Response
  0000, authorisation 501602), with their signatures, as published in the fixtures of
  github.com/javiertury/redsys-easy (test/fixtures/rest/json-request.ts, json-response.ts).
- The public test key ``sq7HjrUOBfKmC576ILgskD5srU870gJ7`` and order ``012345678`` (nine
  characters, so zero padding to 16 bytes) -> ``ub0/L8+E9+9ITQJwk3SvHA==``, from the same
  redsys-easy tests (src/crypto.spec.ts).
"""
import base64
import json

import pytest

from orchestrator.payments.gateways.results import DECLINE_TEXTS
from orchestrator.payments.gateways import (
    Approved, Declined, GatewayConfigError, GatewayError, build_gateway,
)
from orchestrator.payments.gateways import redsys
from orchestrator.payments.gateways.redsys import (
    RedsysGateway, decode_parameters, encode_parameters, order_key, order_number, sign,
)
from tests.support.cards import make_card

DOC_KEY = "Mk9m98IfEblmPfrpsawt7BmxObt98Jev"
TEST_KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"
API_PARAMS = (
    "eyJEU19NRVJDSEFOVF9BTU9VTlQiOiIxNDUiLCJEU19NRVJDSEFOVF9PUkRFUiI6IjEiLCJEU19NRVJDSEFOVF9N"
    "RVJDSEFOVENPREUiOiI5OTkwMDg4ODEiLCJEU19NRVJDSEFOVF9DVVJSRU5DWSI6Ijk3OCIsIkRTX01FUkNIQU5U"
    "X1RSQU5TQUNUSU9OVFlQRSI6IjAiLCJEU19NRVJDSEFOVF9URVJNSU5BTCI6Ijg3MSIsIkRTX01FUkNIQU5UX01F"
    "UkNIQU5UVVJMIjoiIiwiRFNfTUVSQ0hBTlRfVVJMT0siOiIiLCJEU19NRVJDSEFOVF9VUkxLTyI6IiJ9")
REST_REQUEST = (
    "eyJEU19NRVJDSEFOVF9BTU9VTlQiOiIxNDUiLCJEU19NRVJDSEFOVF9PUkRFUiI6IjE0NDYwNjg1ODEiLCJEU19N"
    "RVJDSEFOVF9NRVJDSEFOVENPREUiOiI5OTkwMDg4ODEiLCJEU19NRVJDSEFOVF9DVVJSRU5DWSI6Ijk3OCIsIkRT"
    "X01FUkNIQU5UX1RSQU5TQUNUSU9OVFlQRSI6IjAiLCJEU19NRVJDSEFOVF9URVJNSU5BTCI6IjEiLCJEU19NRVJD"
    "SEFOVF9NRVJDSEFOVFVSTCI6Imh0dHA6Ly93d3cucHJ1ZWJhLmNvbS91cmxOb3RpZmljYWNpb24ucGhwIiwiRFNf"
    "TUVSQ0hBTlRfUEFOIjoiNDU0ODgxMjA0OTQwMDAwNCIsIkRTX01FUkNIQU5UX0VYUElSWURBVEUiOiIxNTEyIiwi"
    "RFNfTUVSQ0hBTlRfQ1ZWMiI6IjEyMyJ9")
REST_RESPONSE = (
    "eyJEc19BbW91bnQiOiIxNDUiLCJEc19DdXJyZW5jeSI6Ijk3OCIsIkRzX09yZGVyIjoiMTQ0NjA2ODU4MSIsIkRz"
    "X01lcmNoYW50Q29kZSI6Ijk5OTAwODg4MSIsIkRzX1Rlcm1pbmFsIjoiMSIsIkRzX1Jlc3BvbnNlIjoiMDAwMCIs"
    "IkRzX0F1dGhvcmlzYXRpb25Db2RlIjoiNTAxNjAyIiwiRHNfVHJhbnNhY3Rpb25UeXBlIjoiMCIsIkRzX1NlY3Vy"
    "ZVBheW1lbnQiOiIwIiwiRHNfTGFuZ3VhZ2UiOiIxIiwiRHNfQ2FyZE51bWJlciI6IjQ1NDg4MSoqKioqKioqMDQi"
    "LCJEc19NZXJjaGFudERhdGEiOiIiLCJEc19DYXJkX0NvdW50cnkiOiI3MjQiLCJEc19DYXJkX0JyYW5kIjoiMSJ9")


def test_per_order_key_vectors():
    assert base64.b64encode(order_key(DOC_KEY, "1")) == b"Lr6bLJYWKrk="
    assert base64.b64encode(order_key(TEST_KEY, "012345678")) == b"ub0/L8+E9+9ITQJwk3SvHA=="
    assert base64.b64encode(order_key(DOC_KEY, "1446068581")) == b"Uv3ZTYJhPi5Hpi9R6NzR6w=="


def test_signature_vectors():
    assert sign(DOC_KEY, "1", API_PARAMS) == "3TEI5WyvHf1D/whByt1ENgFH/HPIP9UFuB6LkCYgj+E="
    assert sign(DOC_KEY, "1446068581", REST_REQUEST) == \
        "aAL1aW3e9XLP3JyraURhhyHNfv9bjHkrHap0Sd44PdA="
    assert sign(DOC_KEY, "1446068581", REST_RESPONSE) == \
        "IoGNijSDZGbk+qChH2iqRCg6jZVl3Ee6Ha/WBM4wgto="


def test_published_answer_maps_to_approved():
    gateway = RedsysGateway("r", "999008881", "1", DOC_KEY, url="https://127.0.0.1/x")
    answer = {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": REST_RESPONSE,
              "Ds_Signature": "IoGNijSDZGbk-qChH2iqRCg6jZVl3Ee6Ha_WBM4wgto="}   # URL-safe form
    assert gateway.interpret(answer, "1446068581") == Approved("501602", "1446068581")
    tampered = dict(answer, Ds_Signature="IoGNijSDZGbk+qChH2iqRCg6jZVl3Ee6Ha/WBM4wgtA=")
    assert gateway.interpret(tampered, "1446068581").kind == "signature"
    assert gateway.interpret(answer, "999999999999").kind == "signature"   # not our order


def _answer(order, **parameters):
    encoded = encode_parameters(dict({"Ds_Order": order}, **parameters))
    return {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
            "Ds_Signature": sign(TEST_KEY, order, encoded)}


@pytest.mark.parametrize("code,expected", [
    ("0000", Approved("123456", "000000000042")),
    ("0099", Approved("123456", "000000000042")),
    ("0101", Declined("expired_card", "0101")),
    ("0116", Declined("insufficient_funds", "0116")),
    ("0180", Declined("card_not_supported", "0180")),
    ("0190", Declined("do_not_honour", "0190")),
    ("0999", Declined("other", "0999")),
    ("116", Declined("insufficient_funds", "0116")),
])
def test_response_codes(code, expected):
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    answer = _answer("000000000042", Ds_Response=code, Ds_AuthorisationCode="123456 ")
    assert gateway.interpret(answer, "000000000042") == expected


def test_every_redsys_decline_code_is_heard_as_one_of_our_reasons():
    assert set(redsys.RESPONSE_REASONS.values()) <= set(DECLINE_TEXTS)
    answer = _answer("000000000042", Ds_Response="0116")
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    assert gateway.interpret(answer, "000000000042").reason_text == \
        "The card has insufficient funds."


def test_sis_errors_are_gateway_errors():
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    assert gateway.interpret({"errorCode": "SIS0042"}, "1") == \
        GatewayError("rejected", False, "Redsys error SIS0042")
    assert gateway.interpret({"errorCode": "SIS0051"}, "1").outcome_unknown is True


@pytest.fixture
def fake_redsys(https_server):
    """A local stand-in for trataPeticionREST: checks the signature, answers signed."""
    state = {"requests": [], "response": "0000"}

    def app(environ, start_response):
        body = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        parameters = decode_parameters(body["Ds_MerchantParameters"])
        order = parameters["DS_MERCHANT_ORDER"]
        state["requests"].append((body, parameters))
        if body["Ds_SignatureVersion"] != "HMAC_SHA256_V1" or \
                body["Ds_Signature"] != sign(TEST_KEY, order, body["Ds_MerchantParameters"]):
            answer = {"errorCode": "SIS0042"}
        else:
            answer = _answer(order, Ds_Response=state["response"], Ds_AuthorisationCode="654321",
                             Ds_Amount=parameters["DS_MERCHANT_AMOUNT"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    state["url"] = https_server(app) + "/sis/rest/trataPeticionREST"
    return state


def _gateway(fake_redsys, tls_files, key=TEST_KEY):
    config = {"gateways": [{"name": "redsys", "type": "redsys", "merchant_code": "999008881",
                            "terminal": 1, "secret_key": key, "url": fake_redsys["url"],
                            "verify": tls_files[0]}]}
    return build_gateway("redsys", config)


def test_request_mapping_against_a_fake_redsys(fake_redsys, tls_files):
    gateway = _gateway(fake_redsys, tls_files)
    order = order_number("4821", 1)
    result = gateway.authorize(1250, "EUR", "invoice 7", make_card("4548812049400004"), order)
    assert result == Approved("654321", order)
    [(body, parameters)] = fake_redsys["requests"]
    assert parameters == {
        "DS_MERCHANT_AMOUNT": "1250", "DS_MERCHANT_ORDER": order,
        "DS_MERCHANT_MERCHANTCODE": "999008881", "DS_MERCHANT_CURRENCY": "978",
        "DS_MERCHANT_TRANSACTIONTYPE": "0", "DS_MERCHANT_TERMINAL": "1",
        "DS_MERCHANT_PAN": "4548812049400004", "DS_MERCHANT_EXPIRYDATE": "3012",
        "DS_MERCHANT_CVV2": "123", "DS_MERCHANT_PRODUCTDESCRIPTION": "invoice 7",
        "DS_MERCHANT_DIRECTPAYMENT": "true", "DS_MERCHANT_EXCEP_SCA": "MOTO"}
    assert order == "482100000001"


def test_decline_and_wrong_key_against_the_fake(fake_redsys, tls_files):
    fake_redsys["response"] = "0116"
    result = _gateway(fake_redsys, tls_files).authorize(
        1000, "EUR", "r", make_card(), order_number("4821", 2))
    assert result == Declined("insufficient_funds", "0116")
    other_key = base64.b64encode(b"x" * 24).decode()
    result = _gateway(fake_redsys, tls_files, other_key).authorize(
        1000, "EUR", "r", make_card(), order_number("4821", 3))
    assert result == GatewayError("rejected", False, "Redsys error SIS0042")


def test_unknown_outcome_is_not_resent(https_server, tls_files):
    posts = []

    def silent(environ, start_response):
        posts.append(1)
        import gevent
        gevent.sleep(2)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url=https_server(silent) + "/x",
                            verify=tls_files[0], read_timeout=0.3)
    result = gateway.authorize(1000, "EUR", "r", make_card(), order_number("4821", 4))
    assert result.kind == "timeout" and result.outcome_unknown is True
    assert len(posts) == 1
    assert gateway.status(order_number("4821", 4)).kind == "unsupported"
    assert gateway.cancel(order_number("4821", 4)).kind == "unsupported"


# -- order numbers: allocated, never derived from a hash -------------------------------------

def test_an_order_number_is_the_prefix_then_the_payment_number_in_base_36():
    assert order_number("4821", 1) == "482100000001"
    assert order_number("0007", 36) == "000700000010"
    assert order_number("9999", redsys.ORDER_NUMBERS - 1) == "9999ZZZZZZZZ"
    for bad in (0, -1, redsys.ORDER_NUMBERS):
        with pytest.raises(ValueError):
            order_number("4821", bad)
    for bad in ("482", "48211", "48a1"):
        with pytest.raises(ValueError):
            order_number(bad, 1)


def test_a_million_payment_numbers_give_a_million_orders_in_redsys_format():
    """What a twelve-digit hash did not do: near 10**6 orders its collisions were likely."""
    orders = {order_number("4821", n) for n in range(1, 1_000_001)}
    assert len(orders) == 1_000_000
    assert all(redsys.ORDER.fullmatch(o) and len(o) == 12 and o[:4].isdigit()
               for o in list(orders)[:1000] + [order_number("4821", 999_999)])


def test_the_key_comes_from_the_attempt_and_the_store_tag_or_the_configured_prefix():
    from orchestrator.payments.gateways.attempts import PaymentAttempt
    attempt = PaymentAttempt("0b4f6a3e-1d5c-4a8f-9a7e-2f1c3d4e5f60", 42, "1234")
    plain = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    assert plain.idempotency_key(attempt) == "123400000016"
    prefixed = build_gateway("r", {"type": "redsys", "merchant_code": "999008881", "terminal": 1,
                                   "secret_key": TEST_KEY, "order_prefix": "0420"})
    assert prefixed.idempotency_key(attempt) == "042000000016"
    with pytest.raises(GatewayConfigError):
        RedsysGateway("r", "1", "1", TEST_KEY, order_prefix="42")


@pytest.mark.parametrize("key", ["key-redsys-0001", "abcd12345678", "1234567890123", "123"])
def test_a_key_that_is_not_an_order_number_is_refused_before_any_call(key):
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1:9/x")
    with pytest.raises(ValueError):
        gateway.authorize(1000, "EUR", "r", make_card(), key)


def test_config_errors():
    with pytest.raises(GatewayConfigError):
        RedsysGateway("r", "1", "1", "not-base64!")
    with pytest.raises(GatewayConfigError):
        RedsysGateway("r", "1", "1", TEST_KEY, url="http://sis.example/x")
    with pytest.raises(GatewayConfigError):
        RedsysGateway("r", "1", "1", TEST_KEY, environment="staging")
    assert RedsysGateway("r", "1", "1", TEST_KEY, environment="live").url == redsys.LIVE_URL
    with pytest.raises(GatewayConfigError):
        build_gateway("missing", {"gateways": []})
    with pytest.raises(GatewayConfigError):
        build_gateway("x", {"type": "paypal"})


# -- answers read within bounds (bounded_json.MAX_DEPTH, transport.MAX_ANSWER_BYTES) ---------

def _nested(depth):
    return "[" * depth + "]" * depth


def _answering(body):
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def test_an_answer_nested_100000_deep_is_a_protocol_error_with_the_outcome_unknown(
        https_server, tls_files):
    url = https_server(_answering(_nested(100000).encode())) + "/x"
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url=url, verify=tls_files[0])
    result = gateway.authorize(1000, "EUR", "r", make_card(), order_number("4821", 5))
    assert result == GatewayError(
        "protocol", True, "unexpected answer (HTTP 200): body JSON nested deeper than 32 levels")


def _parameters_nested(order, depth):
    """A signed answer whose Ds_MerchantParameters hold an approval ``depth`` levels deep."""
    parameters = {"Ds_Order": order, "Ds_Response": "0000", "Ds_AuthorisationCode": "654321",
                  "Ds_Extra": json.loads(_nested(depth - 1))}
    encoded = encode_parameters(parameters)
    return {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
            "Ds_Signature": sign(TEST_KEY, order, encoded)}


def test_merchant_parameters_nested_deep_are_undecodable_not_a_crash(https_server, tls_files):
    order = order_number("4821", 6)
    inner = "[" * 50000 + "]" * 50000   # base64 of it still fits the answer's size bound
    encoded = base64.b64encode(inner.encode()).decode()
    answer = {"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
              "Ds_Signature": sign(TEST_KEY, order, encoded)}
    url = https_server(_answering(json.dumps(answer).encode())) + "/x"
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url=url, verify=tls_files[0])
    result = gateway.authorize(1000, "EUR", "r", make_card(), order)
    assert result == GatewayError("protocol", True, "undecodable Ds_MerchantParameters")


def test_merchant_parameters_at_the_depth_limit_are_read_and_one_level_more_is_not():
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    at_limit = _parameters_nested("000000000042", 32)
    assert gateway.interpret(at_limit, "000000000042") == Approved("654321", "000000000042")
    over = _parameters_nested("000000000042", 33)
    assert gateway.interpret(over, "000000000042") == \
        GatewayError("protocol", True, "undecodable Ds_MerchantParameters")


def test_merchant_parameters_that_are_not_an_object_are_a_protocol_error():
    gateway = RedsysGateway("r", "999008881", "1", TEST_KEY, url="https://127.0.0.1/x")
    encoded = encode_parameters(["Ds_Response", "0000"])
    answer = {"Ds_MerchantParameters": encoded, "Ds_Signature": sign(TEST_KEY, "1", encoded)}
    assert gateway.interpret(answer, "1") == \
        GatewayError("protocol", True, "Ds_MerchantParameters is not an object")
