"""The generic http connector's card on file against a real HTTP server on loopback: the
documented requests (signed; ``"store_card": true`` on an authorization; a stored card's charge
with the token and ``"merchant_initiated": true`` and no card field; ``tokenize_url``; the
``token_url`` delete), the answers it maps, a token shaped like a card number not kept, and a
connector without the settings offering nothing."""
import json

import pytest
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from orchestrator.payments.gateways import GatewayConfigError, build_gateway
from orchestrator.payments.gateways.tokens import StoredCard, Tokenized
from orchestrator.payments.money import Money
from orchestrator.payments.signing import verify
from tests.support.cards import make_card

SECRET = "http-gateway-secret-0123"
PAN = "4111111111111111"


@pytest.fixture
def server():
    state = {"requests": [], "token": "gw_tok_0001", "fail_next": 0, "answers": {}}

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        state["requests"].append({"path": path, "method": method, "body": body,
                                  "signed": verify(SECRET, environ.get("HTTP_X_TIMESTAMP"),
                                                   environ.get("HTTP_X_SIGNATURE"), body)})
        request = json.loads(body) if body else {}
        card = {"brand": "visa", "bin": "411111", "last4": "1111"}
        if state["fail_next"] and method == "POST":
            # the gateway charged, then a load balancer answered 502
            state["fail_next"] -= 1
            state["answers"][request["idempotency_key"]] = {
                "status": "approved", "auth_code": "LATE01", "transaction_id": "tx-7",
                "amount": request["amount"], "card": card}
            status, answer = "502 Bad Gateway", {"error": "upstream"}
        elif method == "GET":
            key = path.rsplit("/", 1)[1]
            status, answer = (("200 OK", state["answers"][key]) if key in state["answers"]
                              else ("404 Not Found", {"error": "unknown"}))
        elif method == "DELETE":
            status, answer = "200 OK", {"status": "deleted"}
        elif path == "/tokens":
            status, answer = "200 OK", {"status": "stored", "card": card,
                                        "card_token": {"id": state["token"]}}
        elif "card_token" in request:
            status, answer = "200 OK", {"status": "approved", "auth_code": "T0K3N1",
                                        "transaction_id": "tx-9", "amount": request["amount"],
                                        "card": card}
        else:
            answer = {"status": "approved", "auth_code": "A1", "transaction_id": "tx-1",
                      "amount": request["amount"], "card": card}
            if request.get("store_card"):
                answer["card_token"] = {"id": state["token"], "expiry_month": "12",
                                        "expiry_year": "2030"}
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
    settings = dict({"type": "http", "url": server["url"] + "/authorizations", "secret": SECRET,
                     "card_on_file": True, "tokenize_url": server["url"] + "/tokens",
                     "token_url": server["url"] + "/tokens/{token}", "read_timeout": 1},
                    **extra)
    return build_gateway("gw", settings)


def test_an_authorization_asks_to_store_and_keeps_the_token(server):
    gateway = gateway_for(server)
    result = gateway.authorize(1000, "EUR", "r", make_card(PAN), "key-00000001", store_card=True)
    assert result.status == "approved"
    assert (result.card_token.gateway_token, result.card_token.brand, result.card_token.last4,
            result.card_token.expiry_month, result.card_token.expiry_year) == \
        ("gw_tok_0001", "visa", "1111", "12", "2030")
    [sent] = server["requests"]
    assert json.loads(sent["body"])["store_card"] is True and sent["signed"]


def test_a_stored_card_is_charged_with_the_token_and_no_card_field(server):
    gateway = gateway_for(server)
    result = gateway.charge_token(Money(450, "EUR"), "later",
                                  StoredCard("gw_tok_0001", "visa", "1111"), "key-00000002")
    assert result.status == "approved" and result.auth_code == "T0K3N1"
    [sent] = server["requests"]
    assert json.loads(sent["body"]) == {"idempotency_key": "key-00000002",
                                        "amount": {"value": 450, "currency": "EUR"},
                                        "reference": "later", "card_token": "gw_tok_0001",
                                        "merchant_initiated": True}
    assert sent["signed"]


def test_tokenize_and_delete(server):
    gateway = gateway_for(server)
    answer = gateway.tokenize(make_card(PAN), "verify", "key-00000003")
    assert isinstance(answer, Tokenized) and answer.token.gateway_token == "gw_tok_0001"
    assert answer.token.expiry_year == "2030"   # from the card, the answer did not say
    sent = json.loads(server["requests"][0]["body"])
    assert "amount" not in sent and sent["card"]["number"] == PAN
    assert gateway.delete_token("gw_tok_0001") is True
    assert server["requests"][-1]["method"] == "DELETE"
    assert server["requests"][-1]["path"] == "/tokens/gw_tok_0001"


def test_a_token_shaped_like_a_card_number_is_not_kept(server):
    server["token"] = PAN
    gateway = gateway_for(server)
    result = gateway.authorize(1000, "EUR", "r", make_card(PAN), "key-00000004", store_card=True)
    assert result.status == "approved" and result.card_token is None
    answer = gateway.tokenize(make_card(PAN), "verify", "key-00000005")
    assert answer.status == "error" and answer.kind == "protocol"


def test_without_the_settings_nothing_is_offered_or_sent(server):
    gateway = build_gateway("gw", {"type": "http", "url": server["url"] + "/authorizations",
                                   "secret": SECRET})
    assert gateway.card_on_file_modes() == ()
    with pytest.raises(ValueError):
        gateway.authorize(1000, "EUR", "r", make_card(PAN), "key-00000006", store_card=True)
    assert gateway.charge_token(Money(1, "EUR"), "r", StoredCard("gw_tok_1", "visa", "1111"),
                                "key-00000007").kind == "unsupported"
    assert server["requests"] == []
    with pytest.raises(GatewayConfigError):
        gateway_for(server, token_url=server["url"] + "/tokens")


def test_a_stored_cards_charge_whose_answer_was_lost_is_found_by_key(server):
    """The unknown-outcome policy of a keyed card: the 502 is not taken as a failure, the key
    is asked and the charge found there taken (it says the payment's amount and last four;
    the stored card has no BIN to compare). Not idempotent: never sent twice."""
    server["fail_next"] = 1
    gateway = gateway_for(server, idempotent=False, status_attempts=2, status_interval=0.01)
    result = gateway.charge_token(Money(450, "EUR"), "later",
                                  StoredCard("gw_tok_0001", "visa", "1111"), "key-00000008")
    assert result.status == "approved" and result.auth_code == "LATE01"
    assert [r["method"] for r in server["requests"]] == ["POST", "GET"]
    # an answer found by key for another card's last four is not taken
    server["fail_next"] = 1
    wrong = gateway.charge_token(Money(450, "EUR"), "later",
                                 StoredCard("gw_tok_0001", "visa", "4242"), "key-00000009")
    assert wrong.status == "error" and wrong.kind == "mismatch" and wrong.outcome_unknown
