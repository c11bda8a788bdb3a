"""Stored cards through the agent API, on the running service (``Rig``): real HTTP on
loopback, the sandbox gateway server, the store. A customer's cards are listed masked (brand,
last four, expiry, our id; never the gateway's token); another tenant's customer has none and
another tenant's card is the same 404 as one that never was; only a token with ``refund:
true`` deletes, the gateway's token is deleted too and the card is not charged again; every
request is an audit line."""
import logging

import pytest

from orchestrator.payments.gateways.tokens import StoredCard
from orchestrator.payments.money import Money
from orchestrator.store.card_tokens import CardTokenTable
from tests.support.agent import PAN, Rig
from tests.support.cards import make_card


def deleters(config):
    """acme's supervisor and globex's token may delete; alice and bob may not."""
    for entry in config["agent_api"]["tokens"]:
        if entry.get("agent") is None:
            entry["refund"] = True


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path, configure=deleters)
    yield rig
    rig.stop()


def stored_card(rig, tenant="acme", customer="CUST-1"):
    """A card the sandbox keeps (stored without a charge), recorded for ``tenant``."""
    gateway = rig.service.gateways["sandbox"]
    answer = gateway.tokenize(make_card(PAN), "verify", "tok-%08d" % len(rig.sandbox.vault.tokens))
    return CardTokenTable(rig.service.store).add(tenant=tenant, customer=customer,
                                                 gateway="sandbox", token=answer.token)


def test_cards_are_listed_masked_and_only_the_tenants(rig, caplog):
    caplog.set_level(logging.INFO)
    row = stored_card(rig)
    reply = rig.request("GET", "/customers/CUST-1/cards", "alice")
    assert reply.status_code == 200, reply.text
    [card] = reply.json()["cards"]
    assert card == {"id": row["id"], "customer": "CUST-1", "gateway": "sandbox",
                    "brand": row["brand"], "last4": PAN[-4:], "expiry_month": "12",
                    "expiry_year": "2030", "created": pytest.approx(row["created"])}
    assert row["gateway_token"] not in reply.text and PAN not in reply.text
    other = rig.request("GET", "/customers/CUST-1/cards", "other")
    assert other.status_code == 200 and other.json()["cards"] == []
    bad = rig.request("GET", "/customers/%s/cards" % PAN, "alice")
    assert bad.status_code == 400
    audit = [r for r in caplog.records if r.name == "orchestrator.audit"]
    assert [r.log_fields.get("action") for r in audit].count("cards") == 3
    assert PAN not in caplog.text


def test_a_card_is_deleted_by_a_token_that_may_and_never_charged_again(rig, caplog):
    caplog.set_level(logging.INFO)
    row = stored_card(rig)
    refused = rig.request("DELETE", "/cards/" + row["id"], "alice")
    assert refused.status_code == 403
    elsewhere = rig.request("DELETE", "/cards/" + row["id"], "other")
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "card_not_found"
    done = rig.request("DELETE", "/cards/" + row["id"], "acme")
    assert done.status_code == 200, done.text
    assert done.json()["deleted"]["id"] == row["id"] and done.json()["gateway_deleted"] is True
    assert rig.request("DELETE", "/cards/" + row["id"], "acme").status_code == 404
    assert rig.request("GET", "/customers/CUST-1/cards", "acme").json()["cards"] == []
    assert CardTokenTable(rig.service.store).get("acme", row["id"]) is None
    # the sandbox forgot the token too: a charge under it is refused, nothing charged
    answer = rig.service.gateways["sandbox"].charge_token(
        Money(100, "EUR"), "late", StoredCard(row["gateway_token"], row["brand"], row["last4"]),
        "late-00000001")
    assert answer.status == "error" and rig.sandbox.charges == []
    audit = [(r.log_fields.get("action"), r.log_fields.get("status"))
             for r in caplog.records if r.name == "orchestrator.audit"]
    assert [a for a in audit if a[0] == "card_delete"] == [
        ("card_delete", "403"), ("card_delete", "404"), ("card_delete", "200"),
        ("card_delete", "404")]
