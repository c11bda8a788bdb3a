"""The relay between instances over a real PostgreSQL: a request answered through LISTEN/NOTIFY,
no answer within the timeout, PostgreSQL's payload limit and ours, and a listening connection
that is killed and comes back."""
import gevent
import pytest

from orchestrator.cluster import wire
from orchestrator.cluster.listener import NotificationListener
from orchestrator.cluster.relay import Relay, Unanswered
from orchestrator.metrics import Metrics
from orchestrator.store import StoreError, open_store
from tests.support.waiting import eventually


@pytest.fixture
def store(postgres_schema):
    opened = open_store(postgres_schema.url, timeout=3, retries=2, retry_backoff=0.05)
    yield opened
    opened.close()


def relay_on(store, name, metrics=None, timeout=5.0):
    relay = Relay(store.backend, name, metrics=metrics, timeout=timeout)
    listener = NotificationListener(store.backend.dedicated_connection, relay.inbox, relay.deliver)
    relay.start()
    listener.start()
    assert listener.listening.wait(10)
    return relay, listener


def test_a_request_is_answered_by_the_instance_it_was_sent_to(store):
    asker, asker_listener = relay_on(store, "a", metrics=Metrics())
    holder, holder_listener = relay_on(store, "b")
    seen = []
    holder.serve = lambda message: (seen.append(message) or (201, {"echo": message["body"]}))
    try:
        reply = asker.ask("b", {"kind": "request", "method": "POST", "path": "/sessions",
                                "body": {"reference": "INV-1"}})
        assert reply["status"] == 201 and reply["body"] == {"echo": {"reference": "INV-1"}}
        assert seen[0]["reply_to"] == wire.inbox_of("a")
        assert asker.metrics.relay_requests.labels("answered")._value.get() == 1
    finally:
        for part in (asker_listener, holder_listener, asker, holder):
            part.stop()


def test_an_instance_that_does_not_answer_times_out_and_is_counted(store):
    metrics = Metrics()
    asker, listener = relay_on(store, "a", metrics=metrics, timeout=0.5)
    try:
        with pytest.raises(Unanswered, match="nobody did not answer within 0.5s"):
            asker.ask("nobody", {"kind": "request", "method": "POST", "path": "/sessions"})
        assert metrics.relay_requests.labels("timed_out")._value.get() == 1
    finally:
        listener.stop()
        asker.stop()


def test_the_payload_limit_is_postgresqls_and_refused_before_the_database(store):
    relay, listener = relay_on(store, "a")
    got = []
    relay.deliver = got.append            # what arrives, as it arrived
    listener.deliver = got.append
    try:
        envelope = len(wire.encode({"kind": "event", "payload": ""}))
        fits = {"kind": "event", "payload": "x" * (wire.MAX_PAYLOAD - envelope)}
        relay.send(relay.inbox, fits)
        eventually(lambda: got, timeout=10, what="the largest notification that fits")
        assert len(got[0].encode("utf-8")) == wire.MAX_PAYLOAD and wire.decode(got[0]) == fits
        too_big = {"kind": "event", "payload": "x" * (wire.MAX_PAYLOAD - envelope + 1)}
        with pytest.raises(wire.TooLarge, match="8000 bytes does not fit"):
            relay.send(relay.inbox, too_big)
        # and the database itself refuses it: the limit is PostgreSQL's, not a guess
        text = "x" * (wire.MAX_PAYLOAD + 1)
        with pytest.raises(StoreError, match="payload string too long"):
            store.backend.run(lambda tx: tx.execute("SELECT pg_notify(?, ?)", (relay.inbox, text)))
    finally:
        listener.stop()
        relay.stop()


def test_a_message_that_is_not_ours_is_refused_and_the_relay_goes_on(store):
    relay, listener = relay_on(store, "a")
    answered = []
    relay.serve = lambda message: (answered.append(message) or (200, {}))
    try:
        relay.deliver("not json")
        relay.deliver('{"kind": "shout"}')
        relay.deliver('{"kind": "request", "reply_to": "somewhere; DROP TABLE calls"}')
        gevent.sleep(0.2)
        assert answered == []          # no channel of ours to answer on: never served
        reply = relay.ask("a", {"kind": "request", "method": "GET", "path": "/x"})
        assert reply["status"] == 200
    finally:
        listener.stop()
        relay.stop()


def test_a_listening_connection_killed_is_made_again(store, postgres_schema):
    asker, asker_listener = relay_on(store, "a", timeout=2)
    holder, holder_listener = relay_on(store, "b")
    holder.serve = lambda message: (200, {"ok": True})
    try:
        states = []
        holder_listener.on_state = states.append
        assert postgres_schema.terminate() >= 2      # every connection of the schema's stores
        eventually(lambda: states[:2] == [False, True], timeout=30,
                   what="the listener losing its connection and listening again")

        def answered():
            try:
                return asker.ask("b", {"kind": "request", "method": "GET", "path": "/x"})["status"] == 200
            except (Unanswered, Exception):
                return False
        eventually(answered, timeout=30, what="an answer after the connections were killed")
        assert holder_listener.listening.is_set() and asker_listener.listening.is_set()
    finally:
        for part in (asker_listener, holder_listener, asker, holder):
            part.stop()
