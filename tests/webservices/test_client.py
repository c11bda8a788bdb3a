"""The web service client against real HTTPS servers on loopback: good, missing, failing,
slow, down, garbage, oversize and over-deep answers."""
import json
import socket

import pytest

from orchestrator.payments import signing
from orchestrator.payments.gateways.transport import GatewayConfigError
from orchestrator.webservices import WebService, build_services
from tests.support.tls import make_certificate

SECRET = "crm-secret-of-sixteen-bytes"


def client(url, tls_files, **settings):
    options = dict(name="crm", url=url, secret=SECRET, verify=tls_files[0], read_timeout=2.0,
                   max_attempts=3, backoff=0.01)
    options.update(settings)
    return WebService(**options)


def test_an_answer_is_read_and_the_request_signed(scripted_service, tls_files):
    crm = scripted_service([(200, {"name": "Ana"})])
    answer = client(crm.url, tls_files).call("customers/lookup", {"phone": "600111222"})
    assert (answer.outcome, answer.data, answer.attempts) == ("ok", {"name": "Ana"}, 1)
    [request] = crm.requests
    assert request["path"] == "/customers/lookup"
    assert json.loads(request["body"]) == {"phone": "600111222"}
    headers = request["headers"]
    assert signing.verify(SECRET, headers["X-Timestamp"], headers["X-Signature"], request["body"])
    assert not signing.verify("another-secret-entirely", headers["X-Timestamp"],
                              headers["X-Signature"], request["body"])


def test_404_is_not_found_at_once(scripted_service, tls_files):
    crm = scripted_service([(404, {"error": "no such customer"})])
    answer = client(crm.url, tls_files).call("", {})
    assert (answer.outcome, answer.attempts, len(crm.requests)) == ("not-found", 1, 1)


def test_5xx_is_retried_with_the_same_idempotency_key(scripted_service, tls_files):
    crm = scripted_service([(503, {}), (500, b"oops"), (200, {"ok": 1})])
    answer = client(crm.url, tls_files).call("", {})
    assert (answer.outcome, answer.attempts) == ("ok", 3)
    keys = {request["headers"]["Idempotency-Key"] for request in crm.requests}
    assert len(crm.requests) == 3 and len(keys) == 1


def test_retries_are_bounded_and_end_in_error(scripted_service, tls_files):
    crm = scripted_service([(500, {})])
    answer = client(crm.url, tls_files, max_attempts=2).call("", {})
    assert (answer.outcome, answer.status, len(crm.requests)) == ("error", 500, 2)


def test_another_4xx_is_an_error_without_a_retry(scripted_service, tls_files):
    crm = scripted_service([(400, {"error": "bad"})])
    answer = client(crm.url, tls_files).call("", {})
    assert (answer.outcome, len(crm.requests)) == ("error", 1)


def test_a_slow_service_is_a_timeout(scripted_service, tls_files):
    crm = scripted_service([("slow", 5.0, (200, {"name": "late"}))])
    answer = client(crm.url, tls_files, read_timeout=0.3, max_attempts=2).call("", {})
    assert (answer.outcome, answer.attempts) == ("timeout", 2)


def test_a_slow_first_answer_then_a_quick_one_is_ok(scripted_service, tls_files):
    crm = scripted_service([("slow", 5.0, (200, {})), (200, {"name": "Ana"})])
    answer = client(crm.url, tls_files, read_timeout=0.3).call("", {})
    assert (answer.outcome, answer.data) == ("ok", {"name": "Ana"})


def test_a_service_that_is_down_is_an_error(tls_files):
    with socket.socket() as probe:     # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = client("https://127.0.0.1:%d" % port, tls_files, max_attempts=2).call("", {})
    assert (answer.outcome, answer.attempts, answer.status) == ("error", 2, 0)


@pytest.mark.parametrize("body", [b"<html>down for maintenance</html>", b"", b'{"name": "Ana"'])
def test_garbage_is_an_error_at_once(scripted_service, tls_files, body):
    crm = scripted_service([(200, body)])
    answer = client(crm.url, tls_files).call("", {})
    assert (answer.outcome, len(crm.requests)) == ("error", 1)
    assert "unreadable" in answer.detail


def test_a_body_larger_than_the_limit_is_an_error(scripted_service, tls_files):
    crm = scripted_service([(200, {"name": "x" * 2000})])
    assert client(crm.url, tls_files, max_answer_bytes=1024).call("", {}).outcome == "error"
    assert client(crm.url, tls_files, max_answer_bytes=4096).call("", {}).outcome == "ok"


def test_an_answer_nested_deeper_than_the_limit_is_an_error(scripted_service, tls_files):
    crm = scripted_service([(200, b'{"a":' * 9 + b"1" + b"}" * 9)])
    answer = client(crm.url, tls_files, max_depth=8).call("", {})
    assert answer.outcome == "error" and "deeper" in answer.detail
    assert client(crm.url, tls_files, max_depth=9).call("", {}).outcome == "ok"


def test_an_untrusted_certificate_is_an_error_without_a_retry(scripted_service, tls_files,
                                                               tmp_path):
    other = make_certificate(tmp_path)
    crm = scripted_service([(200, {})])
    answer = client(crm.url, other).call("", {})
    assert (answer.outcome, answer.attempts, crm.requests) == ("error", 1, [])


def test_plain_http_is_refused_off_loopback():
    with pytest.raises(GatewayConfigError, match="https"):
        WebService(name="crm", url="http://crm.example.com/api")
    with pytest.raises(GatewayConfigError, match="a second web service"):
        build_services([{"name": "crm", "url": "https://a.example"},
                        {"name": "crm", "url": "https://b.example"}])
