"""The PostgreSQL backend on a real server: a store call waiting on the database is one
greenlet waiting (the others go on); a statement past the timeout is cancelled and said; a
killed connection, a restarted server and a server that cannot be reached are retried a
bounded number of times, then said, and the store's health shows it until it answers again."""
import time

import gevent
import pytest

from orchestrator.store import (StoreCannotOpen, StoreError, StoreTimeout, StoreUnavailable,
                                open_store)
from orchestrator.store.postgres import parse_url
from tests.support.cards import make_card
from tests.support.postgres import unavailable
from tests.support.raw_relay import RawRelay


def begin(store, key):
    return store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key=key,
                       summary=make_card().summary, number=store.next_number())


def errors_of(store):
    seen = []
    store.health.on_error = seen.append
    return seen


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "scheme must be postgresql://"),
    ("postgresql:///db", "no host"),
    ("postgresql://h/db", "name the user and the database"),
    ("postgresql://u@h", "name the user and the database"),
    ("postgresql://u@h:99999/db", "not a PostgreSQL URL"),
    ("postgresql://u@h/db?sslmode=sometimes", "sslmode must be one of"),
    ("postgresql://u@h/db?pool=3", "unknown parameter 'pool'"),
    ("postgresql://u@h/db?connect_timeout=soon", "connect_timeout must be a number"),
])
def test_a_bad_url_is_refused_saying_what_is_wrong(url, message):
    with pytest.raises(StoreError, match=message):
        parse_url(url)


def test_the_password_is_read_percent_decoded_and_never_shown():
    settings = parse_url("postgresql://pay%40ivr:s3cr%2Ft@db.example:6432/pay?sslmode=require")
    assert (settings.user, settings.password, settings.port) == ("pay@ivr", "s3cr/t", 6432)
    assert "s3cr" not in settings.display and "s3cr" not in repr(settings)


def test_a_server_that_cannot_be_reached_at_start_says_so_without_the_password():
    with gevent.socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreCannotOpen) as raised:
        open_store("postgresql://payivr:hunter2@127.0.0.1:%d/payments" % port, timeout=1)
    assert time.monotonic() - started < 5
    assert "postgresql://payivr@127.0.0.1:%d/payments" % port in str(raised.value)
    assert "refused" in str(raised.value).lower() and "hunter2" not in str(raised.value)


def test_a_store_call_waiting_on_the_database_lets_every_other_greenlet_run(postgres_schema):
    store = open_store(postgres_schema.url, timeout=5)
    with postgres_schema.server.connect() as holder:
        holder.run("BEGIN")
        holder.run("LOCK TABLE %s.counters IN ACCESS EXCLUSIVE MODE" % postgres_schema.name)
        waiting = gevent.spawn(store.next_number)
        ticks = []
        for _ in range(20):            # one second of 50 ms ticks while the store call waits
            ticks.append(time.monotonic())
            gevent.sleep(0.05)
        assert not waiting.ready()     # still waiting on the lock
        holder.run("COMMIT")
    assert waiting.get(timeout=5) == 1
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.25


def test_a_statement_past_the_timeout_is_cancelled_and_the_store_goes_on(postgres_schema):
    store = open_store(postgres_schema.url, timeout=0.5)
    seen = errors_of(store)
    with postgres_schema.server.connect() as holder:
        holder.run("BEGIN")
        holder.run("LOCK TABLE %s.counters IN ACCESS EXCLUSIVE MODE" % postgres_schema.name)
        started = time.monotonic()
        with pytest.raises(StoreTimeout, match="statement timeout"):
            store.next_number()
        waited = time.monotonic() - started
        holder.run("ROLLBACK")
    assert 0.4 < waited < 2.5
    assert seen == ["timeout"] and store.health.up    # slow, not unreachable
    assert store.next_number() == 1                   # nothing of the cancelled one was kept


def test_a_pool_with_every_connection_busy_answers_within_the_timeout(postgres_schema):
    store = open_store(postgres_schema.url, pool_size=1, timeout=0.5)
    # the one connection held by a transaction that takes its time (between statements)
    holding = gevent.spawn(store.backend.run, lambda tx: gevent.sleep(0.8) or tx.execute("SELECT 7"))
    gevent.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(StoreTimeout, match="no connection free within 0.5s"):
        store.list()
    assert 0.4 < time.monotonic() - started < 0.75
    assert holding.get(timeout=5) == [(7,)]
    assert store.list() == [] and store.health.up


def test_a_killed_connection_is_replaced_and_the_payment_written(postgres_schema):
    store = open_store(postgres_schema.url)
    seen = errors_of(store)
    payment = begin(store, "key-killed-0001")
    assert postgres_schema.terminate() >= 1
    store.finish(payment, "approved", auth_code="A1")        # on a new connection
    assert store.get(payment)["status"] == "approved"
    assert seen == ["connection"] and store.health.up


def test_a_restarted_server_is_reconnected_to(postgres_schema):
    server = postgres_schema.server
    if not hasattr(server, "restart"):   # a server found, not started here: not ours to restart
        unavailable("the suite's PostgreSQL (%s) is not its own to restart" % server.origin)
    store = open_store(postgres_schema.url, pool_size=2)
    first = begin(store, "key-restart-001")
    gevent.joinall([gevent.spawn(store.list) for _ in range(2)])   # two idle connections
    server.restart()
    store.finish(first, "approved", auth_code="A2")
    assert store.get(first)["status"] == "approved" and store.health.up


def test_an_unreachable_server_is_tried_a_bounded_number_of_times_then_said(postgres_schema):
    server = postgres_schema.server
    relay = RawRelay((server.host, server.port)).start()
    port = relay.address[1]
    store = open_store(postgres_schema.url_through("127.0.0.1", port), timeout=1, retries=3,
                       retry_backoff=0.1)
    seen = errors_of(store)
    payment = begin(store, "key-unreach-001")
    relay.stop()                                             # the server is gone
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unreachable after 3 attempts"):
        store.finish(payment, "approved", auth_code="A3")
    assert time.monotonic() - started < 5
    assert seen == ["connection"] * 3
    status = store.health.status()
    assert status["up"] is False and status["backend"] == "postgresql" and status["reason"]
    relay = RawRelay((server.host, server.port), listen=("127.0.0.1", port)).start()
    try:
        store.finish(payment, "approved", auth_code="A3")     # it is back: the write is made
        assert store.get(payment)["status"] == "approved" and store.health.status()["up"]
    finally:
        relay.stop()


def test_a_payment_begun_again_after_a_lost_answer_is_the_same_payment(postgres_schema):
    """The retry of an insert whose commit went through but whose answer was lost finds its
    own row: no conflict. Another payment under the same key is still refused."""
    store = open_store(postgres_schema.url)
    summary = make_card().summary
    args = dict(amount_minor=990, currency="EUR", gateway="sandbox", summary=summary)
    first = store.begin(idempotency_key="key-again-0001", payment_id="p-again", **args)
    assert store.begin(idempotency_key="key-again-0001", payment_id="p-again", **args) == first
    with pytest.raises(StoreError, match="payment not recorded"):
        store.begin(idempotency_key="key-again-0001", payment_id="p-other", **args)
    assert len(store.list()) == 1
