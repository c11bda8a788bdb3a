"""The generic HTTPS connector against real TLS servers on 127.0.0.1 (throwaway certificates)."""
import json
import socket

import pytest

from orchestrator.payments.gateways import (
    Approved, Declined, GatewayConfigError, build_gateway,
)
from orchestrator.payments import signing
from orchestrator.payments.gateways.http import HttpGateway
from orchestrator.payments.gateways.results import PaymentFacts
from orchestrator.payments.sandbox import SandboxGateway
from tests.support.cards import make_card

SECRET = "0123456789abcdef-shared"


def test_against_the_sandbox_over_https(tls_files):
    certfile, keyfile = tls_files
    with SandboxGateway(secret=SECRET, certfile=certfile, keyfile=keyfile) as sandbox:
        assert sandbox.url.startswith("https://127.0.0.1:")
        gateway = build_gateway("bank", {"gateways": [{
            "name": "bank", "type": "http", "url": sandbox.url + "/v1/authorizations",
            "secret": SECRET, "verify": certfile}]})
        result = gateway.authorize(1250, "EUR", "ref-1", make_card(), "key-https-0001")
        assert isinstance(result, Approved)
        assert gateway.status("key-https-0001") == result
        assert len(sandbox.charges) == 1


def test_certificate_is_verified(tls_files, other_tls_files):
    certfile, keyfile = tls_files
    with SandboxGateway(certfile=certfile, keyfile=keyfile) as sandbox:
        gateway = HttpGateway("bank", sandbox.url + "/v1/authorizations", secret=SECRET,
                              verify=other_tls_files[0])
        result = gateway.authorize(1250, "EUR", "ref-1", make_card(), "key-tls-000001")
        assert result.kind == "tls" and result.outcome_unknown is False
        assert sandbox.charges == [] and sandbox.requests == 0


def test_mapped_fields_and_signature_checked_by_the_server(https_server, tls_files):
    seen = []

    def gateway_app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        ok = signing.verify(SECRET, environ.get("HTTP_X_TIMESTAMP"),
                            environ.get("HTTP_X_SIGNATURE"), body)
        seen.append((ok, body, environ.get("HTTP_IDEMPOTENCY_KEY")))
        if not ok:
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": "signature"}']
        request = json.loads(body)
        if request["payment"]["card"]["pan"].endswith("0002"):
            answer = {"result": {"code": "DECLINED", "why": "05", "text": "Do not honor"}}
        else:
            answer = {"result": {"code": "OK", "auth": "A1B2C3", "id": "tx-77"}}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    url = https_server(gateway_app)
    gateway = HttpGateway(
        "acme", url + "/pay", secret=SECRET, verify=tls_files[0],
        request_fields={"number": "payment.card.pan", "expiry_mmyy": "payment.card.exp",
                        "security_code": "payment.card.cvv", "amount_major": "payment.total",
                        "currency_numeric": "payment.currency", "reference": "meta.ref"},
        response={"status": "result.code", "approved": ["OK"], "declined": ["DECLINED"],
                  "auth_code": "result.auth", "transaction_id": "result.id",
                  "reason_code": "result.why"})
    assert gateway.authorize(1250, "EUR", "r-9", make_card(), "key-map-00001") == \
        Approved("A1B2C3", "tx-77")
    ok, body, key = seen[-1]
    assert ok and key == "key-map-00001"
    assert json.loads(body) == {"meta": {"ref": "r-9"}, "payment": {
        "card": {"pan": "4111111111111111", "exp": "1230", "cvv": "123"},
        "total": "12.50", "currency": "978"}}
    declined = gateway.authorize(1250, "EUR", "r-9", make_card("4000000000000002"),
                                 "key-map-00002")
    assert declined == Declined("other", "05")     # the gateway's own words are not kept

    wrong = HttpGateway("acme", url + "/pay", secret="another-secret-xx", verify=tls_files[0])
    assert wrong.authorize(1250, "EUR", "r", make_card(), "key-map-00003").kind == "auth"
    assert seen[-1][0] is False


def test_connect_refused_is_retried_then_reported_as_not_charged():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()                      # nothing listens there now
    gateway = HttpGateway("down", "http://127.0.0.1:%d/v1/authorizations" % port,
                          secret=SECRET, max_attempts=3, backoff=0.01)
    result = gateway.authorize(1250, "EUR", "r", make_card(), "key-down-00001")
    assert result.kind == "connect" and result.outcome_unknown is False


def test_retries_send_the_same_body_and_key(https_server, tls_files):
    bodies = []

    def flaky(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ["REQUEST_METHOD"] == "POST":
            bodies.append((body, environ.get("HTTP_IDEMPOTENCY_KEY")))
        if len(bodies) < 3:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b"{}"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "approved", "auth_code": "X", "transaction_id": "T"}']

    gateway = HttpGateway("flaky", https_server(flaky) + "/a", secret=SECRET,
                          verify=tls_files[0], max_attempts=3, backoff=0.01)
    assert gateway.authorize(500, "EUR", "r", make_card(), "key-flaky-0001") == Approved("X", "T")
    assert len(bodies) == 3 and len(set(bodies)) == 1


def test_non_idempotent_gateway_is_not_resent_after_a_server_error(https_server, tls_files):
    calls = []

    def broken(environ, start_response):
        calls.append(environ["REQUEST_METHOD"])
        start_response("500 Internal Server Error", [("Content-Type", "application/json")])
        return [b"{}"]

    gateway = HttpGateway("once", https_server(broken) + "/a", secret=SECRET,
                          verify=tls_files[0], idempotent=False, status_attempts=2,
                          status_interval=0.01)
    result = gateway.authorize(500, "EUR", "r", make_card(), "key-once-00001")
    assert result.kind == "http" and result.outcome_unknown is True
    assert calls.count("POST") == 1


@pytest.mark.parametrize("url", ["http://gateway.example/pay", "http://10.0.0.5/pay",
                                 "ftp://127.0.0.1/x", "https:///nohost", ""])
def test_plain_http_only_to_loopback(url):
    with pytest.raises(GatewayConfigError):
        HttpGateway("bad", url, secret=SECRET)


def test_loopback_http_and_verify_settings():
    HttpGateway("local", "http://127.0.0.1:8080/pay", secret=SECRET)
    HttpGateway("local6", "http://[::1]:8080/pay", secret=SECRET)
    HttpGateway("localhost", "http://localhost:8080/pay", secret=SECRET)
    with pytest.raises(GatewayConfigError):
        HttpGateway("noverify", "https://127.0.0.1/pay", secret=SECRET, verify=False)
    with pytest.raises(GatewayConfigError):
        HttpGateway("nosecret", "https://127.0.0.1/pay")
    with pytest.raises(GatewayConfigError):
        HttpGateway("badfield", "https://127.0.0.1/pay", secret=SECRET,
                    request_fields={"pan": "card.pan"})


def test_bad_arguments_fail_before_any_call():
    from orchestrator.payments.money import MoneyError
    gateway = HttpGateway("x", "http://127.0.0.1:9/pay", secret=SECRET)
    with pytest.raises(MoneyError):
        gateway.authorize(12.5, "EUR", "r", make_card(), "key-args-00001")
    with pytest.raises(ValueError):
        gateway.authorize(100, "EUR", "r", make_card(), "short")
    with pytest.raises(TypeError):
        gateway.authorize(100, "EUR", "r", "4111111111111111", "key-args-00002")


def test_signature_helpers():
    headers = signing.signed_headers("s3cret", b"{}", now=1000)
    assert signing.verify("s3cret", headers["X-Timestamp"], headers["X-Signature"], b"{}",
                          now=1100)
    assert not signing.verify("s3cret", headers["X-Timestamp"], headers["X-Signature"], b"{ }",
                              now=1100)
    assert not signing.verify("s3cret", headers["X-Timestamp"], headers["X-Signature"], b"{}",
                              now=2000)


def answering(answer):
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]
    return app


@pytest.mark.parametrize("said,facts", [
    ({"amount": {"value": 1250, "currency": "EUR"},
      "card": {"brand": "visa", "bin": "411111", "last4": "1111"}},
     PaymentFacts(1250, "EUR", "visa", "411111", "1111")),
    ({"amount": {"value": "1250", "currency": "EUR"}}, PaymentFacts(1250, "EUR")),
    # untrusted: a whole card number where the BIN goes, a brand with ${...}: not kept
    ({"amount": {"value": 1250, "currency": "EUR"},
      "card": {"brand": "${system(id)}", "bin": "4111111111111111", "last4": "11111"}},
     PaymentFacts(1250, "EUR")),
    ({"amount": {"value": 1250, "currency": "euro"}}, None),
    ({"amount": {"value": True, "currency": "EUR"}}, None),
    ({}, None),
])
def test_what_an_answer_says_it_was_for_is_read_checked(https_server, tls_files, said, facts):
    url = https_server(answering(dict(said, status="approved", auth_code="A1", transaction_id="t1")))
    gateway = HttpGateway("acme", url + "/pay", secret=SECRET, verify=tls_files[0])
    result = gateway.authorize(1250, "EUR", "r", make_card(), "key-facts-0001")
    assert result == Approved("A1", "t1", facts)


def test_an_answer_for_another_amount_is_not_taken_even_to_our_own_request(https_server, tls_files):
    url = https_server(answering({"status": "approved", "auth_code": "A1", "transaction_id": "t1",
                                  "amount": {"value": 99, "currency": "EUR"}}))
    gateway = HttpGateway("acme", url + "/pay", secret=SECRET, verify=tls_files[0])
    result = gateway.authorize(1250, "EUR", "r", make_card(), "key-facts-0002")
    assert result.kind == "mismatch" and result.outcome_unknown is True
    assert "is for 0.99 EUR, the payment is 12.50 EUR" in result.detail


def test_a_cancel_url_must_name_the_key():
    with pytest.raises(GatewayConfigError, match="cancel_url must contain"):
        HttpGateway("acme", "https://gw.example/pay", secret=SECRET,
                    cancel_url="https://gw.example/cancel")
    assert not HttpGateway("acme", "https://gw.example/pay", secret=SECRET).supports_cancel
    assert HttpGateway("acme", "https://gw.example/pay", secret=SECRET,
                       cancel_url="https://gw.example/pay/{key}/cancel").supports_cancel
