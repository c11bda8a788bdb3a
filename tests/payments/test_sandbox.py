"""The sandbox gateway over real HTTP on 127.0.0.1, driven through the connector built for it."""
import json
import time

import pytest
import requests

from orchestrator.bounded_json import MAX_DEPTH
from orchestrator.payments import signing
from orchestrator.payments.gateways import Approved, Declined, GatewayError, build_gateway
from orchestrator.payments.sandbox import MAX_BODY, SandboxGateway, TEST_CARDS
from tests.support.cards import make_card

SECRET = "sandbox-shared-secret"


@pytest.fixture
def sandbox():
    server = SandboxGateway(host="127.0.0.1", port=0, secret=SECRET, slow_seconds=0.6,
                            hang_seconds=3.0).start()
    yield server
    server.stop()


def gateway_for(sandbox, **settings):
    config = {"gateways": [dict({"name": "sbx", "type": "sandbox", "url": sandbox.url,
                                 "secret": SECRET, "connect_timeout": 1, "read_timeout": 1,
                                 "backoff": 0.05, "status_interval": 0.2}, **settings)]}
    return build_gateway("sbx", config)


def authorize(gateway, number, key, amount=1250):
    return gateway.authorize(amount, "EUR", "order-1", make_card(number, code=None
                             if number.startswith("37") else "123"), key)


@pytest.mark.parametrize("number", ["4111111111111111", "5555555555554444", "378282246310005",
                                    "2223003122003222"])
def test_approving_cards(sandbox, number):
    result = authorize(gateway_for(sandbox), number, "key-approve-" + number[-4:])
    assert isinstance(result, Approved) and len(result.auth_code) == 6
    assert result.transaction_id.startswith("sbx_")
    [charge] = sandbox.charges
    assert charge["card"] == {"brand": charge["card"]["brand"], "bin": number[:6],
                              "last4": number[-4:]}
    assert charge["amount"] == 1250 and charge["currency"] == "EUR"


@pytest.mark.parametrize("number,code,words", [
    ("4000000000009995", "insufficient_funds", "insufficient funds"),
    ("4000000000000002", "do_not_honour", "did not authorize"),
    ("4000000000000069", "expired_card", "expired"),
])
def test_declining_cards(sandbox, number, code, words):
    result = authorize(gateway_for(sandbox), number, "key-decline-" + code)
    assert isinstance(result, Declined)
    assert result.reason_code == code and words in result.reason_text
    assert sandbox.charges == []


def test_idempotent_on_the_key_charged_exactly_once(sandbox):
    gateway = gateway_for(sandbox)
    first = authorize(gateway, "4111111111111111", "key-idem-0001")
    second = authorize(gateway, "4111111111111111", "key-idem-0001")
    assert first == second
    assert len(sandbox.charges_for("key-idem-0001")) == 1
    assert gateway.status("key-idem-0001") == first
    assert gateway.status("key-never-seen") is None


def test_same_key_with_a_different_body_is_never_taken_as_the_first_ones_charge(sandbox):
    """A 409 is looked up by key, and what is found is another payment's (12.50, not 9.99):
    not taken, so the second payment stays unknown instead of wearing the first's auth code."""
    gateway = gateway_for(sandbox)
    first = authorize(gateway, "4111111111111111", "key-conflict-1")
    result = authorize(gateway, "4111111111111111", "key-conflict-1", amount=999)
    assert result.kind == "mismatch" and result.outcome_unknown is True
    assert "is for 12.50 EUR, the payment is 9.99 EUR" in result.detail
    assert len(sandbox.charges) == 1 and sandbox.charges[0]["amount"] == 1250
    assert gateway.status("key-conflict-1") == first


def test_slow_card_answers_within_the_read_timeout(sandbox):
    started = time.monotonic()
    result = authorize(gateway_for(sandbox), "4000000000000259", "key-slow-00001")
    assert isinstance(result, Approved)
    assert time.monotonic() - started >= 0.6


def test_slow_card_past_the_read_timeout_is_reconciled(sandbox):
    gateway = gateway_for(sandbox, read_timeout=0.2, status_attempts=10, status_interval=0.2)
    result = authorize(gateway, "4000000000000259", "key-slow-00002")
    assert isinstance(result, Approved)
    assert len(sandbox.charges_for("key-slow-00002")) == 1


def test_timeout_after_charge_is_found_by_status(sandbox):
    gateway = gateway_for(sandbox, read_timeout=0.5)
    result = authorize(gateway, "4000000000000507", "key-hang-000001")
    assert isinstance(result, Approved)
    [charge] = sandbox.charges_for("key-hang-000001")
    assert charge["auth_code"] == result.auth_code
    assert gateway.status("key-hang-000001") == result


def test_timeout_with_status_unavailable_is_outcome_unknown(sandbox):
    gateway = gateway_for(sandbox, read_timeout=0.3, status_attempts=2, status_interval=0.05)
    gateway.status_url = sandbox.url + "/nowhere/{key}"   # status answers 404 = "never seen"
    result = authorize(gateway, "4000000000000507", "key-hang-000002")
    assert result == GatewayError("timeout", True, result.detail)
    assert len(sandbox.charges_for("key-hang-000002")) == 1   # charged once, never again


def test_charge_then_stall_stays_unknown_until_the_gateway_can_say(sandbox):
    gateway = gateway_for(sandbox, read_timeout=0.3, status_attempts=2, status_interval=0.05)
    result = authorize(gateway, "4000000000000606", "key-stall-00001")
    assert isinstance(result, GatewayError) and result.outcome_unknown
    assert gateway.status("key-stall-00001").kind == "pending"
    time.sleep(sandbox.hang_seconds)
    settled = gateway.status("key-stall-00001")
    assert isinstance(settled, Approved)
    assert len(sandbox.charges_for("key-stall-00001")) == 1   # charged once, never again


def test_http_500_is_retried_with_the_same_key_then_stays_unknown(sandbox):
    """The sandbox charged nothing, but a 5xx and "no record" do not prove it: unknown."""
    gateway = gateway_for(sandbox, max_attempts=3, status_attempts=2, status_interval=0.05)
    before = sandbox.requests
    result = authorize(gateway, "4000000000005001", "key-http-500-1")
    assert isinstance(result, GatewayError)
    assert result.kind == "http" and result.outcome_unknown is True
    assert result.detail == "HTTP 500; status: no record of the key yet"
    assert sandbox.requests - before == 3 + 2          # three sends, two status queries
    assert sandbox.charges == []


def test_bad_signature_is_refused(sandbox):
    config = {"name": "x", "type": "sandbox", "url": sandbox.url, "secret": "wrong-secret"}
    result = authorize(build_gateway("x", config), "4111111111111111", "key-badsig-01")
    assert result.kind == "auth" and result.outcome_unknown is False
    assert sandbox.charges == []


def test_records_hold_masked_card_data_only(sandbox):
    gateway = gateway_for(sandbox)
    for index, number in enumerate(["4111111111111111", "378282246310005", "4000000000009995"]):
        authorize(gateway, number, "key-masked-%03d" % index)
    raw = requests.get(sandbox.url + "/v1/charges", timeout=2)
    assert raw.status_code == 401                       # signed API
    text = json.dumps(sandbox.charges) + repr(sandbox._by_key)
    for number in ("4111111111111111", "378282246310005", "4000000000009995"):
        assert number not in text and number[6:12] not in text
    assert '"security_code"' not in text and "expiry" not in text


def test_charges_endpoint_without_a_secret():
    with SandboxGateway() as server:
        gateway = build_gateway("open", {"type": "sandbox", "url": server.url})
        authorize(gateway, "4111111111111111", "key-open-00001")
        listed = requests.get(server.url + "/v1/charges", timeout=2).json()["charges"]
        assert [c["card"]["last4"] for c in listed] == ["1111"]
        assert server.url.startswith("http://127.0.0.1:")


def test_test_cards_are_valid_numbers():
    from orchestrator.payments.card import validate_number
    for number in TEST_CARDS:
        validate_number(number)


# -- the bodies it reads: nested no deeper than bounded_json.MAX_DEPTH, no larger than MAX_BODY --

def post_signed(sandbox, body):
    return requests.post(sandbox.url + "/v1/authorizations", data=body, timeout=5,
                         headers=dict(signing.signed_headers(SECRET, body),
                                      **{"Content-Type": "application/json"}))


def request_nested(depth, key):
    """A valid authorization request whose extra field takes it to exactly ``depth`` levels."""
    request = {"idempotency_key": key, "amount": {"value": 1250, "currency": "EUR"},
               "reference": "order-1", "card": {"number": "4111111111111111"},
               "extra": json.loads("[" * (depth - 1) + "]" * (depth - 1))}
    return json.dumps(request).encode()


def test_a_body_nested_deep_is_malformed_and_the_sandbox_keeps_serving(sandbox):
    deep = ("[" * 30000 + "]" * 30000).encode()     # within MAX_BODY: the depth refuses it
    assert len(deep) <= MAX_BODY
    reply = post_signed(sandbox, deep)
    assert reply.status_code == 400 and reply.json() == {"error": "malformed_request"}
    assert authorize(gateway_for(sandbox), "4111111111111111", "key-after-deep1").status == \
        "approved"


def test_a_body_at_the_depth_limit_is_read_and_one_level_more_is_not(sandbox):
    assert post_signed(sandbox, request_nested(MAX_DEPTH, "key-depth-00001")).json()["status"] \
        == "approved"
    reply = post_signed(sandbox, request_nested(MAX_DEPTH + 1, "key-depth-00002"))
    assert reply.status_code == 400 and sandbox.charges_for("key-depth-00002") == []


def test_a_body_at_the_size_limit_is_read_and_one_byte_more_is_refused(sandbox):
    body = request_nested(2, "key-size-000001")
    at_limit = body + b" " * (MAX_BODY - len(body))
    assert post_signed(sandbox, at_limit).json()["status"] == "approved"
    body = request_nested(2, "key-size-000002")
    reply = post_signed(sandbox, body + b" " * (MAX_BODY + 1 - len(body)))
    assert reply.status_code == 413 and reply.json() == {"error": "too_large"}
    assert sandbox.charges_for("key-size-000002") == []
