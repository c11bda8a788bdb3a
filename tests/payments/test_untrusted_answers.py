"""What a gateway answers is read within bounds: nesting (bounded_json.MAX_DEPTH) and size
(transport.MAX_ANSWER_BYTES), against real HTTPS servers on 127.0.0.1.

An answer past a bound came back to a request that was sent: the gateway may have charged the
card, so it is a protocol error with the outcome unknown (the payment is flagged for
reconciliation), never an exception out of ``authorize``.
"""
import json

import pytest

from orchestrator.bounded_json import MAX_DEPTH
from orchestrator.payments.gateways import Approved, GatewayError
from orchestrator.payments.gateways.http import HttpGateway
from orchestrator.payments.gateways.transport import MAX_ANSWER_BYTES
from tests.support.cards import make_card

SECRET = "0123456789abcdef-shared"
APPROVED = {"status": "approved", "auth_code": "A1B2C3", "transaction_id": "tx-1"}


def nested(depth):
    return "[" * depth + "]" * depth


def answering(body, seen):
    """A WSGI app answering ``body`` (bytes) with 200 to every request; keeps what it got."""
    def app(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def gateway(url, tls_files):
    return HttpGateway("bank", url + "/pay", secret=SECRET, verify=tls_files[0], read_timeout=5,
                       max_attempts=1, status_attempts=2, status_interval=0.01)


def test_an_answer_nested_100000_deep_is_a_protocol_error_with_the_outcome_unknown(
        https_server, tls_files):
    seen = []
    url = https_server(answering(nested(100000).encode(), seen))
    result = gateway(url, tls_files).authorize(1250, "EUR", "r-1", make_card(), "key-deep-00001")
    assert result == GatewayError(
        "protocol", True, "unexpected answer (HTTP 200): body JSON nested deeper than 32 levels")
    # the request was sent, then the gateway was asked by key (and answered as deep)
    assert seen == [("POST", "/pay"), ("GET", "/pay/key-deep-00001"),
                    ("GET", "/pay/key-deep-00001")]


def answer_nested(depth):
    """An approval whose extra field takes the answer to exactly ``depth`` levels."""
    return json.dumps(dict(APPROVED, extra=json.loads(nested(depth - 1)))).encode()


def test_an_answer_at_the_depth_limit_is_read_and_one_level_more_is_not(https_server, tls_files):
    assert MAX_DEPTH == 32
    at_limit = https_server(answering(answer_nested(MAX_DEPTH), []))
    assert gateway(at_limit, tls_files).authorize(
        1250, "EUR", "r-1", make_card(), "key-deep-00002") == Approved("A1B2C3", "tx-1")
    over = https_server(answering(answer_nested(MAX_DEPTH + 1), []))
    result = gateway(over, tls_files).authorize(1250, "EUR", "r-1", make_card(), "key-deep-00003")
    assert result.kind == "protocol" and result.outcome_unknown is True
    assert "nested deeper than 32 levels" in result.detail


def padded(size):
    """An approval padded with whitespace (still valid JSON) to exactly ``size`` bytes."""
    body = json.dumps(APPROVED).encode()
    return body + b" " * (size - len(body))


def test_an_answer_at_the_size_limit_is_read_and_one_byte_more_is_not(https_server, tls_files):
    at_limit = https_server(answering(padded(MAX_ANSWER_BYTES), []))
    assert gateway(at_limit, tls_files).authorize(
        1250, "EUR", "r-1", make_card(), "key-size-00001") == Approved("A1B2C3", "tx-1")
    seen = []
    over = https_server(answering(padded(MAX_ANSWER_BYTES + 1), seen))
    result = gateway(over, tls_files).authorize(1250, "EUR", "r-1", make_card(), "key-size-00002")
    assert result == GatewayError(
        "protocol", True, "unexpected answer (HTTP 200): body larger than %d bytes"
        % MAX_ANSWER_BYTES)
    assert seen[0] == ("POST", "/pay")


def test_a_too_large_answer_does_not_spoil_the_next_call(https_server, tls_files):
    """The cut answer's connection is closed, not handed back with the rest of the body."""
    answers = [padded(MAX_ANSWER_BYTES + 100000), json.dumps(APPROVED).encode()]

    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        body = answers.pop(0) if environ["REQUEST_METHOD"] == "POST" else b""
        status = "200 OK" if body else "404 Not Found"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    bank = gateway(https_server(app), tls_files)
    assert bank.authorize(1250, "EUR", "r-1", make_card(), "key-size-00003").kind == "protocol"
    assert bank.authorize(1250, "EUR", "r-1", make_card(), "key-size-00004") == \
        Approved("A1B2C3", "tx-1")


def test_an_answer_that_is_not_json_says_so(https_server, tls_files):
    url = https_server(answering(b"<html>maintenance</html>", []))
    result = gateway(url, tls_files).authorize(1250, "EUR", "r-1", make_card(), "key-html-00001")
    assert result == GatewayError("protocol", True, "unexpected answer (HTTP 200): body not JSON")


def test_a_server_error_with_a_deep_body_is_still_a_server_error(https_server, tls_files):
    """The status decides; the body of a 500 is not needed, so its depth changes nothing."""
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        body = nested(100000).encode()
        start_response("500 Internal Server Error", [("Content-Length", str(len(body)))])
        return [body]

    result = gateway(https_server(app), tls_files).authorize(
        1250, "EUR", "r-1", make_card(), "key-deep-00005")
    assert result.kind == "http" and result.outcome_unknown is True
