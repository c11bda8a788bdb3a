"""Payment links in the journal, on each backend: a link payment and its token recorded in one
transaction, found by the token, settled once however many settle it, flagged out of link_sent."""
import time

import gevent
import pytest

from orchestrator.store import StoreError, open_store
from orchestrator.store.links import LINK_SENT, PaymentLinks, is_token, new_token


@pytest.fixture
def links(store_location):
    store = open_store(store_location)
    yield PaymentLinks(store)
    store.close()


def record(links, token=None, **options):
    values = dict(token=token or new_token(), link="paylink", amount_minor=4250, currency="EUR",
                  expires=time.time() + 600, reference="C-1", tenant="default",
                  details={"invoices": "2026110001"})
    values.update(options)
    return values["token"], links.record(**values)


def test_tokens_are_32_letters_and_never_repeat():
    tokens = {new_token() for _ in range(500)}
    assert len(tokens) == 500 and all(is_token(t) and not any(c.isdigit() for c in t) for t in tokens)
    assert not is_token("short") and not is_token("a" * 31 + "1")


def test_a_link_payment_is_recorded_link_sent_with_no_card_and_found_by_its_token(links):
    token, payment_id = record(links)
    found = links.find(token)
    assert found.link == "paylink" and found.expires > time.time()
    row = found.payment
    assert row["id"] == payment_id and row["status"] == LINK_SENT
    assert (row["amount_minor"], row["currency"], row["reference"]) == (4250, "EUR", "C-1")
    assert row["card"] is None and row["brand"] is None and row["details"] == '{"invoices":"2026110001"}'
    assert links.find(new_token()) is None and links.find("not a token") is None


def test_bad_tokens_and_details_are_refused(links):
    with pytest.raises(StoreError, match="token"):
        record(links, token="1234")
    with pytest.raises(StoreError, match="not recorded"):
        record(links, details={"invoices": "4111111111111111"})
    assert links.store.list() == []


def test_a_link_payment_is_settled_once_even_by_concurrent_writers(links):
    told = []
    links.store.outcome_hooks.append(lambda tx, row, reconciled: told.append(row["status"]))
    _, payment_id = record(links)
    results = [gevent.spawn(links.store.finish, payment_id, "approved", from_status=LINK_SENT,
                            auth_code="ABC123") for _ in range(5)]
    gevent.joinall(results, timeout=30, raise_error=True)
    assert sorted(g.value for g in results) == [False, False, False, False, True]
    assert told == ["approved"] and links.store.get(payment_id)["auth_code"] == "ABC123"
    assert links.store.finish(payment_id, "declined", from_status=LINK_SENT) is False
    assert links.store.get(payment_id)["status"] == "approved"


def test_finish_from_a_status_still_refuses_an_unknown_payment(links):
    with pytest.raises(StoreError, match="no payment"):
        links.store.finish("00000000-0000-0000-0000-000000000000", "approved", from_status=LINK_SENT)


def test_flagging_a_link_payment_makes_it_unknown(links):
    _, payment_id = record(links)
    links.store.flag(payment_id, "paid for another amount")
    row = links.store.get(payment_id)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == (
        "unknown", 1, "paid for another amount")


def test_expired_lists_only_link_sent_payments_past_their_expiry(links):
    _, past = record(links, expires=time.time() - 5)
    _, settled = record(links, expires=time.time() - 5)
    _, live = record(links, expires=time.time() + 600)
    links.store.finish(settled, "approved", from_status=LINK_SENT, auth_code="ABC")
    assert links.expired(time.time()) == [past]
    assert sorted(links.expired(time.time() + 601)) == sorted([past, live])
