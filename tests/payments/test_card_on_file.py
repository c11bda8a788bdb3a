"""Card on file against the real sandbox gateway server on loopback and the card_tokens table
on SQLite and on a real PostgreSQL: a token kept besides a charge, a token kept instead of
one (nothing charged), a stored card charged later, a deleted or another tenant's card
refused, and no card digit in any table or log line."""
import logging

import pytest

from orchestrator.payments.gateways import Approved, GatewayError, build_gateway
from orchestrator.payments.gateways.tokens import CardToken, StoredCard, Tokenized
from orchestrator.payments.ledger import PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.store import StoreError, open_store
from orchestrator.store.card_tokens import CardTokenTable, shown
from tests.support.cards import make_card

PAN = "4111111111111111"
CANARY = "5555555555554444"
# a canary whose middle digits (7th to 12th) are neither its BIN nor its last four
CANARY_PAN = "4012888888881881"


@pytest.fixture
def sandbox():
    with SandboxGateway(hang_seconds=2.0) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    location = str(tmp_path / "payments.sqlite") if request.param == "sqlite" else \
        request.getfixturevalue("postgres_schema").url
    store = open_store(location)
    yield store
    store.close()


@pytest.fixture
def gateway(sandbox):
    gateway = build_gateway("sbx", {"type": "sandbox", "url": sandbox.url, "read_timeout": 1.0,
                                    "max_attempts": 2, "backoff": 0.01, "status_attempts": 1,
                                    "status_interval": 0.01})
    yield gateway
    gateway.close()


def charge_and_store(store, gateway, number=PAN, tenant="acme", customer="CUST-1"):
    ledger = PaymentLedger(store)
    card = make_card(number)
    begun = ledger.begin(money=Money(1250, "EUR"), gateway="sbx", key_for=gateway.idempotency_key,
                         summary=card.summary, tenant=tenant, reference="INV-1")
    result = gateway.authorize(1250, "EUR", "INV-1", card, begun.idempotency_key, store_card=True)
    card.wipe()
    assert ledger.finish(begun.payment_id, result) == "approved"
    assert isinstance(result, Approved) and result.card_token is not None
    return CardTokenTable(store).add(tenant=tenant, customer=customer, gateway="sbx",
                                     token=result.card_token, payment_id=begun.payment_id)


def test_a_card_is_kept_besides_its_charge(store, gateway, sandbox):
    row = charge_and_store(store, gateway)
    [charge] = sandbox.charges
    assert charge["amount"] == 1250
    assert row["gateway_token"].startswith("tok_") and row["id"].startswith("card_")
    assert not any(ch.isdigit() for ch in row["id"])   # never withheld as a digit run
    assert (row["brand"], row["last4"], row["expiry_month"], row["expiry_year"]) == \
        ("visa", "1111", "12", "2030")
    [listed] = CardTokenTable(store).of_customer("acme", "CUST-1")
    assert shown(listed) == {k: row[k] for k in ("id", "customer", "gateway", "brand", "last4",
                                                 "expiry_month", "expiry_year", "created")}
    assert "gateway_token" not in shown(listed)


def test_a_card_kept_instead_of_a_charge_charges_nothing(store, gateway, sandbox):
    answer = gateway.tokenize(make_card(CANARY), "verify", "tok-00000001")
    assert isinstance(answer, Tokenized)
    assert sandbox.charges == [] and sandbox.requests == 1
    [done] = sandbox.vault.tokenizations
    assert done["status"] == "stored" and done["card"]["last4"] == "4444"
    row = CardTokenTable(store).add(tenant="acme", customer="CUST-2", gateway="sbx",
                                    token=answer.token)
    assert (row["brand"], row["last4"]) == ("mastercard", "4444")
    # a card the sandbox declines is not kept, and still nothing is charged
    declined = gateway.tokenize(make_card("4000000000009995"), "verify", "tok-00000002")
    assert declined.status == "declined" and declined.reason_code == "insufficient_funds"
    assert sandbox.charges == [] and len(sandbox.vault.tokens) == 1


def test_a_stored_card_is_charged_later_with_no_card_entry(store, gateway, sandbox):
    row = charge_and_store(store, gateway)
    stored = CardTokenTable(store).get("acme", row["id"])
    ledger = PaymentLedger(store)
    from orchestrator.payments.card import CardSummary
    begun = ledger.begin(money=Money(700, "EUR"), gateway="sbx", key_for=gateway.idempotency_key,
                         summary=CardSummary("visa", "", "1111", "************1111"),
                         tenant="acme", reference="INV-2")
    result = gateway.charge_token(Money(700, "EUR"), "INV-2",
                                  StoredCard(stored["gateway_token"], "visa", "1111"),
                                  begun.idempotency_key)
    assert result.status == "approved", result
    assert ledger.finish(begun.payment_id, result) == "approved"
    later = sandbox.charges_for(begun.idempotency_key)
    assert [(c["amount"], c["card"]["last4"]) for c in later] == [(700, "1111")]
    payment = store.get(begun.payment_id)
    assert payment["card"] == "************1111" and payment["status"] == "approved"
    # the same key again is the same answer: one charge
    again = gateway.charge_token(Money(700, "EUR"), "INV-2",
                                 StoredCard(stored["gateway_token"], "visa", "1111"),
                                 begun.idempotency_key)
    assert again.status == "approved" and len(sandbox.charges_for(begun.idempotency_key)) == 1


def test_a_deleted_card_is_refused_by_the_store_and_the_gateway(store, gateway, sandbox):
    row = charge_and_store(store, gateway)
    table = CardTokenTable(store)
    assert table.delete("acme", row["id"], by="agent-7")["id"] == row["id"]
    assert gateway.delete_token(row["gateway_token"]) is True
    assert table.get("acme", row["id"]) is None
    assert table.of_customer("acme", "CUST-1") == []
    assert table.delete("acme", row["id"]) is None
    refused = gateway.charge_token(Money(700, "EUR"), "INV-3",
                                   StoredCard(row["gateway_token"], "visa", "1111"), "late-0000001")
    assert isinstance(refused, GatewayError) and not refused.outcome_unknown
    assert len(sandbox.charges) == 1   # only the first charge


def test_another_tenants_card_is_not_found(store, gateway):
    row = charge_and_store(store, gateway, tenant="acme")
    table = CardTokenTable(store)
    assert table.get("globex", row["id"]) is None
    assert table.of_customer("globex", "CUST-1") == []
    assert table.delete("globex", row["id"]) is None
    assert table.get("acme", row["id"]) is not None   # still acme's


def test_the_store_refuses_what_looks_like_a_card(store):
    table = CardTokenTable(store)
    with pytest.raises(ValueError):
        CardToken(PAN, "visa", "1111")
    with pytest.raises(StoreError):
        table.add(tenant="acme", customer=PAN, gateway="sbx",
                  token=CardToken("tok_abcdef123", "visa", "1111"))


def test_no_card_digit_in_any_table_or_log(store, gateway, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    charge_and_store(store, gateway, number=CANARY_PAN)
    answer = gateway.tokenize(make_card(CANARY_PAN), "verify", "tok-00000003")
    CardTokenTable(store).add(tenant="acme", customer="CUST-3", gateway="sbx", token=answer.token)
    dumped = _dump(store)
    assert "card_tokens" in dumped and "tok_" in dumped and "1881" in dumped
    middle = CANARY_PAN[6:12]
    assert CANARY_PAN not in dumped and middle not in dumped
    assert CANARY_PAN not in caplog.text and middle not in caplog.text
    # the card_tokens rows keep no BIN either
    rows = store.backend.run(lambda tx: tx.execute("SELECT * FROM card_tokens"))
    assert rows and all("401288" not in repr(row) for row in rows)


def _dump(store):
    """Every row of every table of the store, as text."""
    backend = store.backend
    if backend.kind == "sqlite":
        tables = [r[0] for r in backend.run(lambda tx: tx.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))]
    else:
        tables = [r[0] for r in backend.run(lambda tx: tx.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"))]
    text = []
    for table in tables:
        rows = backend.run(lambda tx: tx.execute("SELECT * FROM %s" % table))
        text.append("%s: %r" % (table, rows))
    return "\n".join(text)
