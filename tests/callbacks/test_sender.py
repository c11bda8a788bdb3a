"""Sending the outbox to real receivers on loopback, on each backend: a row is delivered only
after a 2xx, retried under its own id on refused connections, 408, 429 and 5xx, given up at once
on 3xx and other 4xx, after max_attempts, or past max_age (by the clock, not by a count of
attempts); every request signed; one tenant's hung receiver holds up no other tenant; two
instances on one PostgreSQL store share the rows and never send one twice."""
import json
import logging

import gevent
import pytest
from gevent.server import StreamServer

from orchestrator.callbacks.outbox import DELIVERED, GIVEN_UP, PENDING, Outbox
from orchestrator.callbacks.sender import KEEP_FINISHED, OutboxSender
from orchestrator.callbacks.settings import ReceiverSettings
from orchestrator.metrics import Metrics
from tests.support.callbacks import SECRET, CallbackReceiver
from tests.support.waiting import eventually


class Clock:
    def __init__(self, now=2_000_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def settings(url, **extra):
    return ReceiverSettings(url, SECRET, **dict({"timeout": 2.0, "backoff_base": 0.02,
                                                 "backoff_cap": 0.2}, **extra))


def store_rows(outbox, count=1, tenant="acme"):
    for n in range(count):
        outbox.add(tenant, "payment.test", lambda event_id, seq, created: json.dumps(
            {"type": "payment.test", "event_id": event_id, "seq": seq, "n": n}).encode(),
            1000, 65536)


def metric(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0


@pytest.fixture
def receiver():
    receiver = CallbackReceiver()
    yield receiver
    receiver.stop()


def started(outbox, receivers, metrics=None, **options):
    sender = OutboxSender(outbox, receivers, metrics, poll_interval=0.05, **options)
    sender.start()
    return sender


def test_a_row_is_retried_under_its_own_id_and_delivered_only_after_a_2xx(store, receiver):
    answers = iter([503, 429, 408, 200])
    receiver.status = lambda request: next(answers)
    receiver.start()
    metrics = Metrics()
    outbox = Outbox(store.backend)
    store_rows(outbox)
    sender = started(outbox, {"acme": settings(receiver.url)}, metrics)
    try:
        eventually(lambda: outbox.rows()[0].state == DELIVERED, timeout=20, what="delivered")
        # a delivery is counted once the store has it: the row is seen delivered first
        eventually(lambda: metric(metrics, "payivr_outbox_delivered_total", tenant="acme") >= 1,
                   timeout=10, what="the delivery counted")
    finally:
        sender.stop()
    [row] = outbox.rows()
    assert [r["status"] for r in receiver.requests] == [503, 429, 408, 200]
    assert {r["event_id"] for r in receiver.requests} == {row.id}
    assert {r["body"] for r in receiver.requests} == {row.body}
    assert json.loads(row.body)["event_id"] == row.id and receiver.requests[0]["seq"] == "1"
    assert receiver.unsigned() == [] and row.attempts == 4
    assert metric(metrics, "payivr_outbox_retries_total", tenant="acme") == 3
    assert metric(metrics, "payivr_outbox_delivered_total", tenant="acme") == 1


def test_refused_connections_are_retried_until_the_receiver_is_back(store, receiver):
    receiver.reserve()              # a port nobody listens on
    outbox = Outbox(store.backend)
    store_rows(outbox, 3)
    metrics = Metrics()
    # one worker: the lane keeps seq order (with more, two may be sent at once)
    sender = started(outbox, {"acme": settings(receiver.url, workers=1)}, metrics)
    try:
        eventually(lambda: metric(metrics, "payivr_outbox_retries_total", tenant="acme") >= 2,
                   timeout=20, what="retries while the receiver is down")
        assert receiver.requests == [] and {r.state for r in outbox.rows()} == {PENDING}
        receiver.start()
        eventually(lambda: {r.state for r in outbox.rows()} == {DELIVERED}, timeout=20,
                   what="all delivered")
    finally:
        sender.stop()
    # in seq order, each once: the head of the lane is retried, the rows behind it wait
    assert [json.loads(r["body"])["seq"] for r in receiver.requests] == [1, 2, 3]
    # the head of the lane took the failures; those behind it were sent once
    assert outbox.rows()[0].attempts >= 3 and [r.attempts for r in outbox.rows()[1:]] == [1, 1]


@pytest.mark.parametrize("status", [301, 302, 400, 401, 404, 410, 422])
def test_a_3xx_or_4xx_gives_up_at_once(store, receiver, status):
    receiver.status = status
    receiver.start()
    metrics = Metrics()
    outbox = Outbox(store.backend)
    store_rows(outbox)
    sender = started(outbox, {"acme": settings(receiver.url)}, metrics)
    try:
        eventually(lambda: outbox.rows()[0].state == GIVEN_UP, timeout=20, what="given up")
        # counted by the worker whose conditional write gave it up, so after the store has it:
        # the row is seen first (and stopping the sender now could cut the count off)
        eventually(lambda: metric(metrics, "payivr_outbox_given_up_total", tenant="acme",
                                  reason="refused") >= 1, timeout=10, what="the give-up counted")
    finally:
        sender.stop()
    assert len(receiver.requests) == 1
    assert outbox.rows()[0].last_error == "HTTP %d" % status
    assert metric(metrics, "payivr_outbox_given_up_total", tenant="acme", reason="refused") == 1


def test_max_attempts_when_set_gives_up_after_that_many(store, receiver):
    receiver.status = 500
    receiver.start()
    metrics = Metrics()
    outbox = Outbox(store.backend)
    store_rows(outbox)
    sender = started(outbox, {"acme": settings(receiver.url, max_attempts=3)}, metrics)
    try:
        eventually(lambda: outbox.rows()[0].state == GIVEN_UP, timeout=20, what="given up")
        eventually(lambda: metric(metrics, "payivr_outbox_given_up_total", tenant="acme",
                                  reason="attempts") >= 1, timeout=10, what="the give-up counted")
    finally:
        sender.stop()
    assert len(receiver.requests) == 3
    assert metric(metrics, "payivr_outbox_given_up_total", tenant="acme", reason="attempts") == 1


def test_a_row_older_than_max_age_is_given_up_whatever_its_attempts(store, receiver, caplog):
    """Stepped by hand on a clock the test moves: what is asserted is the rule (age past
    max_age: given up, never sent again), not how many attempts a machine fits in."""
    receiver.status = 503
    receiver.start()
    clock = Clock()
    metrics = Metrics()
    outbox = Outbox(store.backend, clock)
    store_rows(outbox)
    sender = OutboxSender(outbox, {"acme": settings(receiver.url, max_age=3600)}, metrics)
    assert sender.send_next("acme") is True            # tried, failed: pending, due later
    assert outbox.rows()[0].state == PENDING
    clock.now += 3599
    assert sender.send_next("acme") is True            # still young enough: tried again
    clock.now += 2
    with caplog.at_level(logging.WARNING, logger="orchestrator.callbacks.sender"):
        sender.send_next("acme")                       # claimed, found too old: not sent
    [row] = outbox.rows()
    assert row.state == GIVEN_UP and "max_age" in row.last_error
    assert len(receiver.requests) == 2
    assert metric(metrics, "payivr_outbox_given_up_total", tenant="acme", reason="expired") == 1
    assert "given up, older than max_age (3600s)" in caplog.text
    assert sender.send_next("acme") is False
    sender.stop()


def test_a_lane_gives_up_its_expired_rows_at_once_and_deletes_old_finished_ones(store,
                                                                              receiver):
    receiver.start()
    clock = Clock()
    metrics = Metrics()
    outbox = Outbox(store.backend, clock)
    store_rows(outbox, 3)
    sender = OutboxSender(outbox, {"acme": settings(receiver.url, max_age=3600)}, metrics)
    assert sender.send_next("acme") is True            # seq 1 delivered now
    clock.now += 3601                                  # 2 and 3 are past max_age
    assert sender.send_next("acme") is False           # both given up at one look, none sent
    assert [r.state for r in outbox.rows()] == [DELIVERED, GIVEN_UP, GIVEN_UP]
    assert len(receiver.requests) == 1
    assert metric(metrics, "payivr_outbox_given_up_total", tenant="acme", reason="expired") == 2
    clock.now += KEEP_FINISHED + 1                     # a week on: done rows are deleted
    store_rows(outbox, 1)
    assert sender.send_next("acme") is True
    assert [(r.seq, r.state) for r in outbox.rows()] == [(4, DELIVERED)]
    sender.stop()


def test_a_hung_receiver_delays_only_its_own_tenant(store, receiver):
    hang = 3.0

    def hold(sock, address):
        sock.recv(65536)
        gevent.sleep(60)
    hung = StreamServer(("127.0.0.1", 0), hold)
    hung.start()
    receiver.start()
    outbox = Outbox(store.backend)
    store_rows(outbox, 6, tenant="acme")       # more than acme's workers: each holds hang s
    sender = started(outbox, {
        "acme": settings("http://127.0.0.1:%d/hook" % hung.server_port, timeout=hang),
        "beta": settings(receiver.url, timeout=hang)})
    try:
        gevent.sleep(0.3)                      # acme's workers are inside their requests
        store_rows(outbox, 2, tenant="beta")
        sender.wake("beta")
        with gevent.Timeout(hang, AssertionError("beta's callbacks waited for acme's receiver")):
            while len(receiver.taken()) < 2:
                gevent.sleep(0.01)
    finally:
        sender.stop()
        hung.stop(timeout=0.5)
    assert sorted(json.loads(r["body"])["seq"] for r in receiver.taken()) == [1, 2]


@pytest.mark.parametrize("store_location", ["postgresql"], indirect=True)
def test_two_instances_on_one_store_share_the_rows_and_never_send_one_twice(open_backend,
                                                                          receiver):
    receiver.delay = 0.01
    receiver.start()
    first, second = Outbox(open_backend().backend), Outbox(open_backend().backend)
    store_rows(first, 120)
    metrics = [Metrics(), Metrics()]
    senders = [started(outbox, {"acme": settings(receiver.url, workers=3)}, m)
               for outbox, m in zip((first, second), metrics)]
    try:
        eventually(lambda: len(receiver.requests) >= 120 and
                   {r.state for r in first.rows()} == {DELIVERED}, timeout=60,
                   what="every row delivered")
        # a delivery is counted once the store has it: the row is seen delivered first
        eventually(lambda: sum(metric(m, "payivr_outbox_delivered_total", tenant="acme")
                               for m in metrics) >= 120, timeout=10, what="each delivery counted")
        gevent.sleep(0.3)                        # a second send, if any, would come now
    finally:
        for sender in senders:
            sender.stop()
    ids = [r["event_id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 120
    shares = [metric(m, "payivr_outbox_delivered_total", tenant="acme") for m in metrics]
    assert sum(shares) == 120 and min(shares) > 0, shares


def test_a_2xx_not_written_down_is_sent_again_under_the_same_id_never_a_new_one(store,
                                                                              receiver):
    """At least once: the sender loses its 2xx (here the store fails as it writes it down; a
    SIGKILL at that moment is the same), the row's claim lapses, and the row goes again, same
    id, same bytes. The receiver de-duplicates by event_id."""
    receiver.start()
    clock = Clock()
    outbox = Outbox(store.backend, clock)
    store_rows(outbox)
    sender = OutboxSender(outbox, {"acme": settings(receiver.url)})
    real_delivered = outbox.delivered

    def lost(row_id):
        raise RuntimeError("the store went away")
    outbox.delivered = lost
    with pytest.raises(RuntimeError):
        sender.send_next("acme")
    outbox.delivered = real_delivered
    assert sender.send_next("acme") is False          # still claimed by the lost attempt
    clock.now += settings(receiver.url).timeout + 6   # the claim lapses
    assert sender.send_next("acme") is True
    [row] = outbox.rows()
    assert row.state == DELIVERED
    assert [r["event_id"] for r in receiver.requests] == [row.id, row.id]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"] == row.body
    sender.stop()
