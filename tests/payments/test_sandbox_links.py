"""The sandbox gateway's hosted payment pages over real HTTP on loopback: made only by a signed
request, paid by the payer, the signed webhook posted to a receiver (a real loopback server
here) each time the page is paid again; once expired, the notice is ``expired`` and 410."""
import json
import time

import pytest
import requests
from gevent.pywsgi import WSGIServer

from orchestrator.payments import signing
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.store.links import new_token

SECRET = "link-secret-of-sixteen"


class Receiver:
    """Keeps each notice posted to it, with whether its signature verified."""

    def __init__(self):
        self.notices = []
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None)
        self.server.start()
        self.url = "http://127.0.0.1:%d/webhooks/links/paylink" % self.server.server_port

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        signed = signing.verify(SECRET, environ.get("HTTP_X_TIMESTAMP"), environ.get("HTTP_X_SIGNATURE"), body)
        self.notices.append((signed, json.loads(body)))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.stop()


@pytest.fixture
def sandbox(receiver):
    gateway = SandboxGateway(link_secret=SECRET, link_webhook_url=receiver.url).start()
    yield gateway
    gateway.stop()


def make_page(sandbox, expires_at, secret=SECRET, token=None):
    body = json.dumps({"token": token or new_token(), "amount": {"value": 4250, "currency": "EUR"},
                       "reference": "C-1", "expires_at": expires_at}).encode()
    headers = dict(signing.signed_headers(secret, body), **{"Content-Type": "application/json"})
    return requests.post(sandbox.url + "/v1/payment_links", data=body, headers=headers, timeout=10)


def test_a_page_is_paid_and_its_signed_webhook_sent_each_time(sandbox, receiver):
    token = new_token()
    made = make_page(sandbox, time.time() + 600, token=token)
    assert made.status_code == 201
    url = made.json()["url"]
    assert requests.get(url, timeout=10).json()["paid"] is False
    assert requests.post(url, timeout=10).json() == {"status": "paid", "webhook": 200}
    assert requests.post(url, timeout=10).json() == {"status": "paid", "webhook": 200}
    [(signed, first), again] = receiver.notices
    assert signed and again == (True, first)
    assert (first["token"], first["event"], first["amount"]) == (token, "paid", {"value": 4250, "currency": "EUR"})
    assert first["auth_code"].isalpha() and requests.get(url, timeout=10).json()["paid"] is True


def test_an_expired_page_says_so(sandbox, receiver):
    url = make_page(sandbox, time.time() - 1).json()["url"]
    assert requests.get(url, timeout=10).status_code == 410
    paid = requests.post(url, timeout=10)
    assert paid.status_code == 410 and paid.json()["status"] == "expired"
    [(signed, notice)] = receiver.notices
    assert signed and notice["event"] == "expired" and "auth_code" not in notice


def test_pages_are_made_only_by_a_signed_request(sandbox, receiver):
    assert make_page(sandbox, time.time() + 600, secret="another-secret-sixteen").status_code == 401
    assert sandbox.links.pages == {} and requests.get(sandbox.url + "/pay/nothing", timeout=10).status_code == 404
