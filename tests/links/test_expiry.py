"""The running service's sweep of expired payment links (``links/expiry.py``), the journal on
each backend: a link past its expiry that nobody paid is declined ``link_expired`` with one
``payment.result`` status callback, whatever number of sweepers (instances) race for it; a
live link and a paid one are left alone; a store that fails is retried at the next round; the
sweep stops at once; and ``orchestrator run`` sweeps on its own, counting what it declined."""
import json
import logging
import time

import gevent
import gevent.event
import pytest

from orchestrator.callbacks.outbox import Outbox
from orchestrator.callbacks.wiring import hook_outcomes
from orchestrator.links.expiry import LinkExpirySweeper
from orchestrator.store import StoreError, open_store
from orchestrator.store.links import PaymentLinks, new_token
from tests.support.waiting import eventually

RECEIVERS = {"default": {"url": "http://127.0.0.1:9/callbacks", "secret": "callback-secret-0123"},
             "acme": {"url": "http://127.0.0.1:9/acme", "secret": "callback-secret-0123"}}


@pytest.fixture
def stores(store_location):
    """Two instances' stores on the same journal, each writing status callbacks to its outbox."""
    opened = [open_store(store_location), open_store(store_location)]
    for store in opened:
        hook_outcomes(store, RECEIVERS)
    yield opened
    for store in opened:
        store.close()


def record(store, expires_in, tenant="default", value=4250):
    return PaymentLinks(store).record(token=new_token(), link="paylink", amount_minor=value,
                                      currency="EUR", expires=time.time() + expires_in,
                                      reference="C-1", tenant=tenant)


def results_told(store, tenant="default"):
    """The payment.result status callbacks in the outbox, by payment id."""
    return [json.loads(row.body)["data"]["payment_id"]
            for row in Outbox(store.backend).rows(tenant) if row.type == "payment.result"]


def test_a_sweep_declines_only_the_links_past_their_expiry(stores):
    store = stores[0]
    expired, live = record(store, -5), record(store, 600)
    counted = []
    declined = LinkExpirySweeper(store, 60, on_expired=counted.append).sweep()
    assert declined == [expired] and counted == ["default"]
    row = store.get(expired)
    assert (row["status"], row["decline_code"]) == ("declined", "link_expired")
    assert store.get(live)["status"] == "link_sent"
    assert len(results_told(store)) == 1
    assert LinkExpirySweeper(store, 60).sweep() == []      # nothing twice


def test_a_link_paid_before_the_sweep_stays_paid(stores):
    store = stores[0]
    payment_id = record(store, -5)
    assert store.finish(payment_id, "approved", from_status="link_sent", auth_code="A1")
    assert LinkExpirySweeper(store, 60).sweep() == []
    assert store.get(payment_id)["status"] == "approved"


def test_two_sweepers_racing_decline_each_link_once_with_one_callback(stores):
    """Both instances read the same expired links before either writes, then write in turns,
    one from each end of the list (so each writes some links first and finds others written):
    each link is declined, counted and told once."""
    first = stores[0]
    expired = [record(first, -5 - n, tenant="acme" if n % 3 == 0 else "default") for n in range(12)]
    live = record(first, 600)
    both_read = gevent.event.Event()
    read = []
    counted = []
    whose_turn = [0]
    sweepers = [LinkExpirySweeper(store, 60, on_expired=counted.append) for store in stores]
    for turn, sweeper in enumerate(sweepers):
        links = sweeper.links
        real_read, real_finish = links.expired_payments, links.store.finish

        def read_then_wait(now, limit=None, real_read=real_read, backwards=turn == 1):
            found = real_read(now, limit)
            found = found[::-1] if backwards else found
            read.append(found)
            if len(read) == 2:
                both_read.set()
            assert both_read.wait(timeout=10)
            return found

        def finish_in_turns(*args, real_finish=real_finish, mine=turn, **kwargs):
            # one write each in strict turns, the first sweeper first: a yield alone let one
            # sweeper take the store's write lock again and again while the other's busy wait
            # slept, and it wrote all twelve (seen in CI)
            deadline = time.monotonic() + 10
            while whose_turn[0] != mine and time.monotonic() < deadline:
                gevent.sleep(0.001)
            try:
                return real_finish(*args, **kwargs)
            finally:
                whose_turn[0] = 1 - mine

        links.expired_payments = read_then_wait
        links.store.finish = finish_in_turns
    runs = [gevent.spawn(sweeper.sweep) for sweeper in sweepers]
    gevent.joinall(runs, timeout=30, raise_error=True)
    assert all(run.dead for run in runs)
    assert [sorted(p for p, _ in found) for found in read] == [sorted(expired)] * 2
    first_declined, second_declined = runs[0].value, runs[1].value
    assert first_declined and second_declined     # both wrote some: they did race
    assert set(first_declined).isdisjoint(second_declined)
    assert sorted(first_declined + second_declined) == sorted(expired)
    assert sorted(counted) == sorted(first.get(p)["tenant"] for p in expired)
    assert all(first.get(p)["status"] == "declined" for p in expired)
    assert first.get(live)["status"] == "link_sent"
    told = results_told(first) + results_told(first, "acme")
    assert sorted(told) == sorted(expired)


def test_a_store_that_fails_is_retried_at_the_next_round(stores, caplog):
    store = stores[0]
    payment_id = record(store, -5)
    sweeper = LinkExpirySweeper(store, 0.05)
    real_read = sweeper.links.expired_payments
    failures = []

    def failing_once(now, limit=None):
        if not failures:
            failures.append(now)
            raise StoreError("the database went away")
        return real_read(now, limit)

    sweeper.links.expired_payments = failing_once
    with caplog.at_level(logging.ERROR, logger="orchestrator.links.expiry"):
        sweeper.start()
        try:
            eventually(lambda: store.get(payment_id)["status"] == "declined", timeout=10,
                       what="the link declined after the store came back")
        finally:
            sweeper.stop()
    assert failures and not sweeper.running
    assert any("the store failed (the database went away)" in m for m in caplog.messages)


def test_the_sweep_stops_at_once_between_rounds(stores):
    sweeper = LinkExpirySweeper(stores[0], 3600)
    sweeper.start()
    gevent.sleep(0.05)
    assert sweeper.running
    started = time.monotonic()
    sweeper.stop()
    assert time.monotonic() - started < 1.0 and not sweeper.running


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, tmp_path):
    if request.param == "sqlite":
        return {"path": str(tmp_path / "links.sqlite")}
    return {"url": request.getfixturevalue("postgres_schema").url}


def test_the_running_service_declines_expired_links_itself(service_on_simulator, store_settings):
    world = service_on_simulator({
        "store": store_settings, "link_expiry": {"interval": 1},
        "http": {"enabled": True, "port": 0},
        "payment_links": {"paylink": {"type": "template", "url": "https://pay.example/{token}",
                                      "secret": "link-secret-of-sixteen"}},
        "agent_api": {"webhooks": {"default": RECEIVERS["default"]}}})
    store = world.service.store
    expired, live = record(store, -1), record(store, 600)
    eventually(lambda: store.get(expired)["status"] == "declined", timeout=10,
               what="the service's sweep declining the expired link")
    assert store.get(expired)["decline_code"] == "link_expired"
    assert store.get(live)["status"] == "link_sent"
    assert results_told(store) == [expired]
    assert world.metric("payivr_payment_links_expired_total", tenant="default") == 1
    world.service.stop(grace=0)
    assert not world.service.link_expiry.running
