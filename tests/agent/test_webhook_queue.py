"""A webhook notice that finds the delivery queue full is dropped at once, and counted."""
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


def test_a_full_queue_drops_notices_and_counts_them_by_tenant():
    metrics = Metrics()
    notifier = WebhookNotifier({"acme": RECEIVER, "beta": RECEIVER}, metrics=metrics)
    # no workers started: nothing drains the queue
    for _ in range(webhooks.QUEUE_SIZE):
        notifier.notify(FakeSession("acme"), "state", {"state": "collecting"})
    assert dropped(metrics, "acme") == 0
    notifier.notify(FakeSession("acme"), "state", {"state": "authorizing"})
    notifier.notify(FakeSession("beta"), "state", {"state": "authorizing"})
    notifier.notify(FakeSession("acme"), "state", {"state": "approved"})
    assert dropped(metrics, "acme") == 2 and dropped(metrics, "beta") == 1
    notifier.stop()


def test_a_tenant_without_a_receiver_is_not_queued_at_all():
    metrics = Metrics()
    notifier = WebhookNotifier({}, metrics=metrics)
    for _ in range(webhooks.QUEUE_SIZE + 5):
        notifier.notify(FakeSession("acme"), "state", {"state": "collecting"})
    assert dropped(metrics, "acme") == 0
    notifier.stop()
