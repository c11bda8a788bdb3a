"""The payment link webhook on a real HTTP server on loopback, the journal on each backend:
signed notices settle a link payment once (repeats and racing notices change nothing and
answer 200), and a bad signature, a stale timestamp, an unknown token, a mismatched amount or
currency, a late "paid" and a body over the bound are each refused as documented."""
import json
import time

import gevent
import pytest
import requests

from orchestrator.links.makers import TemplateMaker
from orchestrator.links.webhook import MAX_WEBHOOK_BODY, PREFIX, LinkWebhooks
from orchestrator.payments import signing
from orchestrator.store import open_store
from orchestrator.store.links import PaymentLinks, new_token
from orchestrator.web import HttpServer

SECRET = "webhook-secret-sixteen"


@pytest.fixture
def site(store_location):
    store = open_store(store_location)
    told = []
    store.outcome_hooks.append(lambda tx, row, reconciled: told.append(dict(row)))
    links = PaymentLinks(store)
    makers = {"paylink": TemplateMaker("paylink", "https://pay.example/{token}", SECRET)}
    answered = []
    server = HttpServer("127.0.0.1", 0)
    server.router.mount(PREFIX, LinkWebhooks(links, makers, on_notice=lambda n, c: answered.append(c)))
    server.start()
    site = Site(links, told, answered, "http://127.0.0.1:%d%s/paylink" % (server.address[:2][1], PREFIX))
    yield site
    server.stop()
    store.close()


class Site:
    def __init__(self, links, told, answered, url):
        self.links, self.told, self.answered, self.url = links, told, answered, url

    def payment(self, expires_in=600.0, value=4250):
        token = new_token()
        payment_id = self.links.record(token=token, link="paylink", amount_minor=value,
                                       currency="EUR", expires=time.time() + expires_in,
                                       reference="C-1", details={"invoices": "2026120001"})
        return token, payment_id

    def post(self, notice, secret=SECRET, url=None, now=None, raw=None, headers=None):
        body = raw if raw is not None else json.dumps(notice).encode()
        sent = dict(signing.signed_headers(secret, body, now=now), **{"Content-Type": "application/json"})
        sent.update(headers or {})
        return requests.post(url or self.url, data=body, headers=sent, timeout=10)

    def row(self, payment_id):
        return self.links.store.get(payment_id)


def paid(token, value=4250, currency="EUR", auth_code="SBXAUTH"):
    return {"token": token, "event": "paid", "amount": {"value": value, "currency": currency},
            "auth_code": auth_code, "transaction_id": "tx-1"}


def test_a_paid_notice_approves_the_payment_once_and_repeats_change_nothing(site):
    token, payment_id = site.payment()
    first = site.post(paid(token))
    assert first.status_code == 200 and first.json() == {"status": "approved"}
    row = site.row(payment_id)
    assert (row["status"], row["auth_code"], row["transaction_id"]) == ("approved", "SBXAUTH", "tx-1")
    updated = row["updated"]
    for _ in range(3):
        again = site.post(paid(token))
        assert again.status_code == 200 and again.json() == {"status": "approved", "repeat": True}
    assert site.row(payment_id)["updated"] == updated
    assert [t["status"] for t in site.told] == ["approved"]


def test_notices_racing_each_other_settle_the_payment_once(site):
    token, payment_id = site.payment()
    racing = [gevent.spawn(site.post, paid(token)) for _ in range(6)]
    gevent.joinall(racing, timeout=60, raise_error=True)
    assert [r.value.status_code for r in racing] == [200] * 6
    assert sum(1 for r in racing if "repeat" not in r.value.json()) == 1
    assert [t["id"] for t in site.told] == [payment_id]


def test_a_bad_or_stale_signature_is_401_and_changes_nothing(site):
    token, payment_id = site.payment()
    assert site.post(paid(token), secret="another-secret-sixteen").status_code == 401
    assert site.post(paid(token), now=time.time() - 3600).status_code == 401
    body = json.dumps(paid(token)).encode()
    unsigned = requests.post(site.url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert unsigned.status_code == 401
    assert site.row(payment_id)["status"] == "link_sent" and site.told == []


def test_an_unknown_token_is_404_and_an_unknown_link_name_too(site):
    token, _ = site.payment()
    assert site.post(paid(new_token())).status_code == 404
    assert site.post(paid(token), url=site.url.replace("/paylink", "/another")).status_code == 404
    assert site.told == []


def test_a_notice_for_another_amount_or_currency_is_refused_and_flagged(site):
    for wrong in ({"value": 1}, {"currency": "USD"}):
        token, payment_id = site.payment()
        answer = site.post(paid(token, **wrong))
        assert answer.status_code == 409 and answer.json()["error"] == "flagged"
        row = site.row(payment_id)
        assert row["status"] == "unknown" and row["needs_reconciliation"] == 1
        assert "the link was for 4250 EUR" in row["reconcile_note"]
        # the right notice afterwards does not settle it either: reconciliation will
        assert site.post(paid(token)).status_code == 409
        assert "the link was for 4250 EUR" in site.row(payment_id)["reconcile_note"]
    assert site.told == []


def test_a_paid_notice_after_the_link_expired_is_flagged_not_accepted(site):
    token, payment_id = site.payment(expires_in=-1)
    answer = site.post(paid(token))
    assert answer.status_code == 409 and "expired" in answer.json()["message"]
    row = site.row(payment_id)
    assert (row["status"], row["needs_reconciliation"], row["auth_code"]) == ("unknown", 1, None)
    assert site.told == []


def test_expired_and_failed_notices_decline_the_payment_once(site):
    for event in ("expired", "failed"):
        token, payment_id = site.payment()
        notice = {"token": token, "event": event, "amount": {"value": 4250, "currency": "EUR"}}
        assert site.post(notice).json() == {"status": "declined"}
        assert site.post(notice).json() == {"status": "declined", "repeat": True}
        row = site.row(payment_id)
        assert (row["status"], row["decline_code"]) == ("declined", "link_" + event)
        # a paid notice for it now is flagged: the money may have been taken after all
        assert site.post(paid(token)).status_code == 409
        assert site.row(payment_id)["needs_reconciliation"] == 1
    assert [t["decline_code"] for t in site.told] == ["link_expired", "link_failed"]


def test_a_body_over_the_bound_is_413_unread_and_bad_bodies_400(site):
    token, payment_id = site.payment()
    big = json.dumps(dict(paid(token), padding="x" * MAX_WEBHOOK_BODY)).encode()
    assert site.post(None, raw=big).status_code == 413
    assert site.post(None, raw=b"{not json").status_code == 400
    assert site.post({"token": token, "event": "paid"}).status_code == 400
    assert site.post(dict(paid(token), auth_code="x" * 40)).status_code == 400
    assert site.post(paid(token), headers={"Content-Type": "text/plain"}).status_code == 415
    assert requests.get(site.url, timeout=10).status_code == 405
    assert site.row(payment_id)["status"] == "link_sent"
    assert site.answered == [413, 400, 400, 400, 415, 405]
