"""The relay's bounds, each with the input that reaches it: session changes waiting to be sent,
a watcher on this side that falls behind, the streams of one session other instances may hold,
and a forwarded request whose principal is not the session's."""
from orchestrator.agent.remote import MAX_WATCHERS, Remote
from orchestrator.agent.sessions import SessionRegistry
from orchestrator.cluster import relay as relay_module
from orchestrator.cluster.relay import END, WATCH_QUEUE, Relay
from orchestrator.metrics import Metrics
from orchestrator.payments.money import Money


class NoStore:
    kind, where = "postgresql", "nowhere"

    def run(self, work):
        raise AssertionError("nothing is sent in these tests")


def test_session_changes_past_the_queue_are_dropped_and_counted(monkeypatch):
    monkeypatch.setattr(relay_module, "PUSH_QUEUE", 3)
    metrics = Metrics()
    relay = Relay(NoStore(), "a", metrics=metrics)          # not started: nothing drains it
    for n in range(5):
        relay.push("payivr_" + "0" * 24, {"kind": "event", "n": n})
    assert metrics.relay_pushes_dropped._value.get() == 2


def test_a_watcher_that_falls_behind_is_dropped():
    relay = Relay(NoStore(), "a")
    watch_id, queue = relay.open_watch("b")
    for n in range(WATCH_QUEUE + 1):
        relay.deliver('{"kind": "event", "watch": "%s", "event": "field", "payload": {"n": %d}}'
                      % (watch_id, n))
    assert queue.qsize() == WATCH_QUEUE
    relay.deliver('{"kind": "event", "watch": "%s", "event": "field", "payload": {}}' % watch_id)
    assert queue.qsize() == WATCH_QUEUE                      # no longer fed


def test_a_holder_that_goes_ends_the_watchers_of_it_only():
    relay = Relay(NoStore(), "a")
    _, of_b = relay.open_watch("b")
    _, of_c = relay.open_watch("c")
    relay.instance_gone("b")
    assert of_b.get_nowait() is END and of_c.empty()


def test_streams_of_one_session_are_bounded_and_only_its_tenant_may_watch():
    relay = Relay(NoStore(), "holder")
    relay.push = lambda channel, message: None
    registry = SessionRegistry()
    remote = Remote(relay, None, None, None, registry)
    session = registry.create("acme", "alice", "call-1", "transfer", "card_payment",
                              Money.parse(1250, "EUR"), "INV-1")

    def watch(n, tenant="acme", agent="alice"):
        return remote.serve({"kind": "watch", "watch": "w%d" % n, "session": session.id,
                             "reply_to": "payivr_" + "1" * 24,
                             "principal": {"tenant": tenant, "agent": agent}})
    assert watch(0, tenant="globex", agent=None) == (404, {"error": "session_not_found",
                                                           "message": "no such session"})
    assert watch(1, agent="bob")[0] == 404
    answers = [watch(n)[0] for n in range(MAX_WATCHERS + 1)]
    assert answers == [200] * MAX_WATCHERS + [503]
    assert remote.serve({"kind": "watch", "session": session.id})[0] == 400     # no principal
