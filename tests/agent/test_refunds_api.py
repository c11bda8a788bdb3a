"""Refunds and voids through the agent API, on the running service (``Rig``): real HTTP on
loopback, the simulator, the sandbox gateway server, the webhook receiver.

Only a token with ``refund: true`` may give money back (403 otherwise, before any payment is
looked at); another tenant's payment is the same 404 as one that does not exist; the same
Idempotency-Key refunds once; every request is an audit line; the metric, the webhook and
every answer carry masked values only."""
import json
import logging

import gevent
import pytest
import requests

from orchestrator.payments.ledger import PaymentLedger
from orchestrator.payments.money import Money
from tests.support.agent import PAN, PAYING_CALLER, TOKENS, Rig
from tests.support.canary import traces
from tests.support.cards import make_card


def refunders(config):
    """alice (agent-scoped), acme's supervisor and globex's token may refund; bob may not."""
    for entry in config["agent_api"]["tokens"]:
        if entry["token"] in (TOKENS["alice"], TOKENS["acme"], TOKENS["other"]):
            entry["refund"] = True


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path, configure=refunders)
    yield rig
    rig.stop()


def reverse(rig, payment_id, verb="refund", who="alice", key="key-00000001", **body):
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKENS[who]}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post("%s/payments/%s/%s" % (rig.base, payment_id, verb), headers=headers,
                         data=json.dumps(body), timeout=10)


def recorded_payment(rig, amount=1250, tenant="acme"):
    """An approved payment of ``tenant`` charged on the sandbox, not from a call of an agent's."""
    store, gateway = rig.service.store, rig.service.gateways["sandbox"]
    ledger = PaymentLedger(store)
    card = make_card(PAN)
    begun = ledger.begin(money=Money(amount, "EUR"), gateway="sandbox",
                         key_for=gateway.idempotency_key, summary=card.summary,
                         tenant=tenant, flow="card_payment", reference="INV-9")
    assert ledger.finish(begun.payment_id,
                         gateway.authorize(amount, "EUR", "INV-9", card, begun.idempotency_key)) \
        == "approved"
    return begun.payment_id


def metric(rig, name):
    text = requests.get("http://127.0.0.1:%d/metrics" % rig.service.http_address[1],
                        timeout=5).text
    return [line for line in text.splitlines() if line.startswith(name)]


def test_an_agent_refunds_a_payment_of_its_call_once_and_everyone_else_is_told_no(rig, caplog):
    caplog.set_level(logging.INFO)
    call, agent = rig.call(PAYING_CALLER)
    session = rig.start_payment(call.uuid).json()
    call.wait(timeout=60)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    payment_id = final["result"]["payment_id"]

    # no permission: 403 before any payment is looked at (a made-up id too)
    for target in (payment_id, "00000000-0000-4000-8000-000000000000"):
        refused = reverse(rig, target, who="bob")
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # another tenant's token, allowed to refund: exactly the answer of a payment that is not there
    theirs = reverse(rig, payment_id, who="other")
    nobody = reverse(rig, "00000000-0000-4000-8000-000000000000", who="other")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json() == nobody.json() == {"error": "payment_not_found",
                                              "message": "no such payment"}
    assert rig.request("GET", "/payments/" + payment_id, "other").json() == nobody.json()
    # no key: refused, nothing sent
    assert reverse(rig, payment_id, key=None, amount=100).status_code == 400

    first = reverse(rig, payment_id, key="click-0000001", amount=500, reason="goodwill")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["refund"]["status"] == "succeeded" and body["refund"]["amount_minor"] == 500
    assert body["payment"]["status"] == "partially_refunded"
    assert body["payment"]["refundable_minor"] == 750 and body["payment"]["last4"] == "1111"
    again = reverse(rig, payment_id, key="click-0000001", amount=500, reason="goodwill")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["refund"]["id"] == body["refund"]["id"]
    key = rig.service.store.get(payment_id)["idempotency_key"]
    assert rig.sandbox.reversals.refunded(key) == 500          # the double click refunded once
    over = reverse(rig, payment_id, key="click-0000002", amount=751)
    assert over.status_code == 422 and over.json()["error"] == "over_refund"
    assert over.json()["refundable_minor"] == 750
    rest = reverse(rig, payment_id, key="click-0000003")        # no amount: all that is left
    assert rest.status_code == 200 and rest.json()["payment"]["status"] == "refunded"
    assert rig.sandbox.reversals.refunded(key) == 1250

    shown = rig.request("GET", "/payments/" + payment_id).json()
    assert [r["amount_minor"] for r in shown["refunds"]] == [500, 750]
    assert shown["refunded_minor"] == 1250 and shown["refundable_minor"] == 0

    # the metric and the webhook heard it
    assert 'payivr_refunds_total{kind="refund",result="succeeded",tenant="acme"} 2.0' in \
        metric(rig, "payivr_refunds_total")
    with gevent.Timeout(15):
        while sum(json.loads(r["body"])["type"] == "payment.refunded"
                  for r in rig.receiver.requests) < 2:
            gevent.sleep(0.05)
    hooks = [json.loads(r["body"]) for r in rig.receiver.requests]
    refunded = [h["data"] for h in hooks if h["type"] == "payment.refunded"]
    assert {d["refunded_minor"] for d in refunded} == {500, 1250}
    assert all(d["payment_id"] == payment_id and d["result"] == "succeeded" for d in refunded)

    # the audit log: every request, by whom, about which payment
    audit = [r for r in caplog.records if r.name == "orchestrator.audit"]
    actions = [(r.log_fields.get("action"), int(r.log_fields.get("status"))) for r in audit
               if r.log_fields.get("action") in ("refund", "void", "payment")]
    assert actions.count(("refund", 403)) == 2 and ("refund", 404) in actions
    assert actions.count(("refund", 200)) == 3 and ("refund", 422) in actions
    mine = [r for r in audit if r.log_fields.get("status") == "200"
            and r.log_fields.get("action") == "refund"]
    assert all(r.log_fields["payment"] == payment_id and r.log_fields["agent"] == "alice"
               for r in mine)
    assert "replayed" in mine[1].log_fields["detail"]

    # no card digit beyond the last four in any answer, beyond BIN and last four in any line
    texts = [first.text, again.text, over.text, rest.text, json.dumps(shown)]
    for text in texts:
        assert PAN not in text and PAN[:6] not in text and traces(text) == []
    assert PAN not in caplog.text


def test_an_agent_token_does_not_reach_a_payment_of_another_agents_call(rig):
    payment_id = recorded_payment(rig)
    assert reverse(rig, payment_id, who="alice").status_code == 404
    assert reverse(rig, payment_id, who="acme").status_code == 200    # the supervisor's does


def test_a_void_and_a_void_after_settlement(rig):
    payment_id = recorded_payment(rig)
    voided = reverse(rig, payment_id, "void", who="acme", key="void-0000001", reason="typo")
    assert voided.status_code == 200, voided.text
    assert voided.json()["payment"]["status"] == "voided"
    assert reverse(rig, payment_id, who="acme", key="after-void-01").status_code == 409

    late = recorded_payment(rig)
    rig.sandbox.reversals.settle_all()
    refused = reverse(rig, late, "void", who="acme", key="void-0000002")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "gateway_refused"
    assert refused.json()["refund"]["refusal"] == "already_settled"
    assert "already settled" in refused.json()["message"]
    assert refused.json()["payment"]["status"] == "approved"
    lines = metric(rig, "payivr_refunds_total")
    assert 'payivr_refunds_total{kind="void",result="succeeded",tenant="acme"} 1.0' in lines
    assert 'payivr_refunds_total{kind="void",result="refused",tenant="acme"} 1.0' in lines
    # acme's receiver is told of both voids (its first request answered 500, then retried)
    with gevent.Timeout(15):
        while True:
            voided = [json.loads(r["body"]) for r in rig.receiver.requests]
            voided = {(v["data"]["payment_id"], v["data"]["result"]) for v in voided
                      if v["type"] == "payment.voided"}
            if len(voided) == 2:
                break
            gevent.sleep(0.05)
    assert voided == {(payment_id, "succeeded"), (late, "refused")}


def test_the_panel_asks_what_the_token_may_do(rig):
    me = rig.request("GET", "/me", "alice").json()
    assert (me["tenant"], me["agent"], me["refund"]) == ("acme", "alice", True)
    assert rig.request("GET", "/me", "bob").json()["refund"] is False


def test_a_card_number_in_a_refund_request_is_refused_and_never_repeated(rig, caplog):
    caplog.set_level(logging.INFO)
    payment_id = recorded_payment(rig)
    reply = reverse(rig, payment_id, who="acme", key="card-like-001",
                    reason="card 4111 1111 1111 1111")
    assert reply.status_code == 422 and reply.json()["error"] == "card_like"
    assert "4111" not in reply.text and "4111 1111" not in caplog.text
    assert rig.sandbox.reversals.refunds == []
    assert reverse(rig, payment_id, who="acme", key=PAN).status_code == 400   # nor as a key
    assert rig.service.store.get(payment_id)["status"] == "approved"
