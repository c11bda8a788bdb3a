"""The generic http connector's refunds and voids against a real HTTP server on loopback: the
documented request (signed, the refund key in the Idempotency-Key header and the body), the
answers it maps (refunded, voided, 422 refusals, 404), a 5xx re-sent under the same key to a
gateway idempotent on it, and the refund status by key."""
import json

import pytest
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.gateways.refund_results import RefundRefused, RefundTarget, Refunded, Voided
from orchestrator.payments.money import Money
from orchestrator.payments.signing import verify

SECRET = "http-gateway-secret-0123"
TARGET = RefundTarget("pay-key-0001", "tx-1", "A1B2C3", 1000, "EUR")


@pytest.fixture
def server():
    state = {"requests": [], "fail_next": 0, "refunds": {}}

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        state["requests"].append({"path": path, "method": method, "body": body,
                                  "key": environ.get("HTTP_IDEMPOTENCY_KEY"),
                                  "signed": verify(SECRET, environ.get("HTTP_X_TIMESTAMP"),
                                                   environ.get("HTTP_X_SIGNATURE"), body)})
        if state["fail_next"]:
            state["fail_next"] -= 1
            status, answer = "503 Service Unavailable", {"error": "busy"}
        elif method == "GET":
            key = path.rsplit("/", 1)[1]
            status, answer = (("200 OK", state["refunds"][key]) if key in state["refunds"]
                              else ("404 Not Found", {"error": "unknown"}))
        else:
            request = json.loads(body)
            if path.endswith("/void"):
                status, answer = "422 Unprocessable Entity", {"error": "already_settled"}
            elif request["amount"]["value"] > 1000:
                status, answer = "422 Unprocessable Entity", {"error": "over_refund"}
            else:
                answer = state["refunds"].setdefault(request["idempotency_key"], {
                    "status": "refunded", "refund_id": "re_%d" % len(state["refunds"]),
                    "amount": request["amount"]})
                status = "200 OK"
        payload = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    http = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
    http.start()
    state["url"] = "http://127.0.0.1:%d" % http.server_port
    yield state
    http.stop(timeout=0.2)


def gateway_for(server, **extra):
    base = server["url"]
    return build_gateway("acq", dict({"type": "http", "url": base + "/pay", "secret": SECRET,
                                      "refund_url": base + "/pay/{key}/refunds",
                                      "void_url": base + "/pay/{key}/void",
                                      "refund_status_url": base + "/refunds/{key}",
                                      "max_attempts": 3, "backoff": 0.01, "read_timeout": 1},
                                     **extra))


def test_a_refund_is_the_documented_signed_request(server):
    answer = gateway_for(server).refund(TARGET, Money(400, "EUR"), "rf-key-0001")
    assert answer == Refunded("re_0", 400)
    [sent] = server["requests"]
    assert sent["path"] == "/pay/pay-key-0001/refunds" and sent["method"] == "POST"
    assert sent["key"] == "rf-key-0001" and sent["signed"]
    assert json.loads(sent["body"]) == {"idempotency_key": "rf-key-0001",
                                        "payment_key": "pay-key-0001", "transaction_id": "tx-1",
                                        "amount": {"value": 400, "currency": "EUR"}}


def test_a_server_error_is_sent_again_under_the_same_key_and_refunds_once(server):
    server["fail_next"] = 1
    assert gateway_for(server).refund(TARGET, Money(400, "EUR"), "rf-key-0002").status == "succeeded"
    assert [r["key"] for r in server["requests"]] == ["rf-key-0002", "rf-key-0002"]
    assert len(server["refunds"]) == 1


def test_refusals_and_the_status_by_key(server):
    gateway = gateway_for(server)
    assert gateway.refund(TARGET, Money(1001, "EUR"), "rf-key-0003") == RefundRefused("over_refund")
    assert gateway.void(TARGET, "rf-key-0004") == RefundRefused("already_settled")
    assert gateway.refund_status("rf-key-0005") is None
    gateway.refund(TARGET, Money(10, "EUR"), "rf-key-0006")
    assert gateway.refund_status("rf-key-0006").status == "succeeded"


def test_without_refund_urls_nothing_is_sent(server):
    gateway = build_gateway("acq", {"type": "http", "url": server["url"] + "/pay",
                                    "secret": SECRET})
    assert gateway.refund(TARGET, Money(1, "EUR"), "rf-key-0007") == RefundRefused("unsupported")
    assert gateway.void(TARGET, "rf-key-0008") == RefundRefused("unsupported")
    assert server["requests"] == []


def test_a_void_answered_voided(server):
    def voiding(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status": "voided", "refund_id": "vo_1"}']
    http = WSGIServer(("127.0.0.1", 0), voiding, log=None, error_log=None)
    http.start()
    try:
        base = "http://127.0.0.1:%d" % http.server_port
        gateway = build_gateway("acq", {"type": "http", "url": base + "/pay", "secret": SECRET,
                                        "void_url": base + "/pay/{key}/void"})
        assert gateway.void(TARGET, "rf-key-0009") == Voided("vo_1")
    finally:
        http.stop(timeout=0.2)
