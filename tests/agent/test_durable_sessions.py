"""Agent sessions in the store: a payment session on instance A is read through instance B's
API as A left it (masked, only by its tenant's agents); the writes are made off the call's
greenlet, so a store that is down holds up no change, and once it is back the latest state
is written."""
import time

import requests

from orchestrator.agent.durable import SessionRecorder
from orchestrator.agent.sessions import SessionRegistry
from orchestrator.payments.money import Money
from orchestrator.store import open_store
from orchestrator.store.sessions import SessionTable
from tests.support.agent import PAYING_CALLER, TOKENS, Rig, WebhookReceiver, agent_api_config
from tests.support.canary import traces
from tests.support.raw_relay import RawRelay
from tests.support.service import ServiceOnSimulator
from tests.support.waiting import eventually


def test_a_session_of_instance_a_is_read_through_instance_b(tmp_path, postgres_schema):
    url = postgres_schema.url
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rig = Rig(tmp_path / "a", configure=lambda config: config.update(store={"url": url}))
    receiver = WebhookReceiver()
    receiver.server.start()
    b = None
    try:
        call, agent = rig.call(PAYING_CALLER)
        reply = rig.start_payment(call.uuid)
        assert reply.status_code == 201, reply.text
        session_id = reply.json()["id"]
        call.wait(timeout=60)
        final = rig.wait_state(session_id, "ended")
        b = ServiceOnSimulator(tmp_path / "b", dict(agent_api_config(receiver.url, "music"),
                                                    store={"url": url}))
        on_b = "http://127.0.0.1:%d/api/v1/sessions/%s" % (b.http_address[1], session_id)

        def seen_on_b(who):
            return requests.get(on_b, headers={"Authorization": "Bearer " + TOKENS[who]},
                                timeout=10)
        eventually(lambda: seen_on_b("alice").json().get("state") == "ended", timeout=10,
                   what="the ended session on instance B")
        assert seen_on_b("alice").json() == final
        assert final["result"]["status"] == "approved"
        assert seen_on_b("other").status_code == 404          # globex's token: not theirs
        [stored] = SessionTable(b.service.store.backend).list()
        assert stored["node"] == "fs1" and stored["instance"]
        assert traces(str(stored)) == []
    finally:
        if b is not None:
            b.stop()
        rig.stop()
        receiver.server.stop(timeout=1)


def test_a_store_that_is_down_holds_up_no_change_and_gets_the_latest_after(postgres_schema):
    server = postgres_schema.server
    relay = RawRelay((server.host, server.port)).start()
    port = relay.address[1]
    store = open_store(postgres_schema.url_through("127.0.0.1", port), timeout=1, retries=2,
                       retry_backoff=0.05)
    table = SessionTable(store.backend)
    registry = SessionRegistry()
    recorder = SessionRecorder(table, instance="test-instance")
    registry.observers.append(recorder.changed)
    recorder.start()
    try:
        session = registry.create("acme", "alice", "call-1", "transfer", "card_payment",
                                  Money.parse(1250, "EUR"), "INV-1")
        eventually(lambda: table.get(session.id) is not None, timeout=5, what="the first write")
        relay.stop()
        started = time.monotonic()
        for state in ("waiting", "collecting", "authorizing", "approved"):
            registry.set_state(session, state)
        assert time.monotonic() - started < 0.05               # nothing waited for the store
        eventually(lambda: recorder.failures > 0, timeout=10, what="a failed write")
        assert recorder.waiting == 1                            # one session, its latest state
        relay = RawRelay((server.host, server.port), listen=("127.0.0.1", port)).start()
        eventually(lambda: recorder.waiting == 0 and recorder.failures == 0, timeout=20,
                   what="the write after the store came back")
        assert table.get(session.id)["state"] == "approved"
    finally:
        recorder.stop(timeout=1)
        relay.stop()
