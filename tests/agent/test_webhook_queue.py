"""Webhook delivery has a lane per tenant: a bounded queue, its own workers, its own seq.

A notice that finds its tenant's queue full is dropped at once, logged and counted (and leaves
a gap in that tenant's seq); a receiver that hangs delays only its own tenant's notices.
"""
import json
import logging
import time

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from gevent.server import StreamServer

from orchestrator.agent import webhooks
from orchestrator.agent.webhooks import WebhookNotifier
from orchestrator.metrics import Metrics

RECEIVER = {"url": "https://hooks.acme.test/pay", "secret": "0123456789abcdef"}


class FakeSession:
    id = "ps_1"

    def __init__(self, tenant):
        self.tenant = tenant

    def to_json(self):
        return {"id": self.id, "tenant": self.tenant}


def dropped(metrics, tenant):
    return metrics.registry.get_sample_value("payivr_webhook_notices_dropped_total",
                                             {"tenant": tenant}) or 0


def queued_seqs(notifier, tenant):
    lane = notifier._lanes[tenant]
    return [json.loads(body)["seq"] for body in list(lane.queue.queue)]


def test_a_full_queue_drops_only_its_tenants_notices_counts_and_logs_them(caplog):
    metrics = Metrics()
    notifier = WebhookNotifier({"acme": RECEIVER, "beta": dict(RECEIVER, queue_size=3)},
                               metrics=metrics)
    # no workers started: nothing drains the queues
    for _ in range(webhooks.QUEUE_SIZE):
        notifier.notify(FakeSession("acme"), "state", {"state": "collecting"})
    assert dropped(metrics, "acme") == 0
    with caplog.at_level(logging.WARNING, logger="orchestrator.agent.webhooks"):
        notifier.notify(FakeSession("acme"), "state", {"state": "authorizing"})
        notifier.notify(FakeSession("beta"), "state", {"state": "authorizing"})
        notifier.notify(FakeSession("acme"), "state", {"state": "approved"})
    assert dropped(metrics, "acme") == 2 and dropped(metrics, "beta") == 0
    assert [r.getMessage() for r in caplog.records if r.name == webhooks.log.name] == [
        "webhook queue of acme full (1000 waiting): the state notice seq 1001 for session ps_1 "
        "was dropped",
        "webhook queue of acme full (1000 waiting): the state notice seq 1002 for session ps_1 "
        "was dropped"]
    # beta's own, smaller queue: its fourth notice is dropped, acme's full queue is no matter
    for _ in range(3):
        notifier.notify(FakeSession("beta"), "state", {"state": "approved"})
    assert dropped(metrics, "beta") == 1
    assert queued_seqs(notifier, "beta") == [1, 2, 3]
    notifier.stop()


def test_seq_counts_each_tenants_notices_on_its_own():
    notifier = WebhookNotifier({"acme": RECEIVER, "beta": RECEIVER})
    for tenant in ("acme", "acme", "beta", "acme", "beta"):
        notifier.notify(FakeSession(tenant), "state", {"state": "collecting"})
    assert queued_seqs(notifier, "acme") == [1, 2, 3]
    assert queued_seqs(notifier, "beta") == [1, 2]
    notifier.stop()


def test_a_tenant_without_a_receiver_is_not_queued_at_all():
    metrics = Metrics()
    notifier = WebhookNotifier({}, metrics=metrics)
    for _ in range(webhooks.QUEUE_SIZE + 5):
        notifier.notify(FakeSession("acme"), "state", {"state": "collecting"})
    assert dropped(metrics, "acme") == 0
    notifier.stop()


# -- a hung receiver, over real sockets --------------------------------------------------------
HANG = 3.0        # the hung tenant's delivery timeout: each of its notices holds a worker this long


@pytest.fixture
def hung_receiver():
    """Accepts connections and reads requests, and never answers."""
    def hang(sock, address):
        sock.recv(65536)
        gevent.sleep(60)

    server = StreamServer(("127.0.0.1", 0), hang)
    server.start()
    yield "http://127.0.0.1:%d/hook" % server.server_port
    server.stop(timeout=0.5)


@pytest.fixture
def prompt_receiver():
    """Answers 200 at once and notes when each notice arrived."""
    arrivals = []

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        arrivals.append((time.monotonic(), json.loads(body)))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
    server.start()
    yield "http://127.0.0.1:%d/hook" % server.server_port, arrivals
    server.stop(timeout=1)


def test_a_hung_receiver_delays_only_its_own_tenant(hung_receiver, prompt_receiver):
    url, arrivals = prompt_receiver
    notifier = WebhookNotifier({
        "acme": {"url": hung_receiver, "secret": RECEIVER["secret"], "timeout": HANG,
                 "max_attempts": 1},
        "beta": {"url": url, "secret": RECEIVER["secret"], "timeout": HANG}})
    notifier.start()
    try:
        # more of acme's notices than it has workers: each one hangs for HANG seconds
        for _ in range(webhooks.WORKERS * 3):
            notifier.notify(FakeSession("acme"), "state", {"state": "collecting"})
        gevent.sleep(0.2)          # acme's workers are now inside their hung requests
        sent = time.monotonic()
        for state in ("collecting", "approved"):
            notifier.notify(FakeSession("beta"), "state", {"state": state})
        with gevent.Timeout(HANG, AssertionError("beta's notices waited for acme's receiver")):
            while len(arrivals) < 2:
                gevent.sleep(0.01)
        delay = arrivals[-1][0] - sent
        # well under the hang, not merely under it
        assert delay < HANG / 3, delay
        # the tenant's two workers may deliver the two at once, in either order: the seq tells
        # the receiver which came first
        assert sorted((notice["seq"], notice["data"]["state"]) for _, notice in arrivals) == \
            [(1, "collecting"), (2, "approved")]
    finally:
        notifier.stop(timeout=1)
