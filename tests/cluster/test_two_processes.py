"""Two orchestrator processes, two simulated switches, one PostgreSQL store, one sandbox gateway.

Instance A is connected to switch 1, instance B to switch 2. An agent on A pays a call that B
holds, end to end (the card keyed 4111111111111111 / 1230 / 737: approved, recorded once,
masked; the card in none of the outputs). Then B is killed with SIGKILL while a call's payment
is with the gateway (a card the sandbox charges and then never answers): the caller reaches
the dialplan's fallback (a person), A sees B's heartbeat stop, claims it and reconciles the
payment B left pending (approved: the gateway had charged it, once); new calls to switch 2's
failover extension (freeswitch_conf 7100: B first, then A) go to A, which keeps serving."""
import glob
import json
import os
import signal

import gevent
import pytest
import requests
import yaml

from bench.service_process import ServiceProcess, free_port
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.simulator import CallerScript
from orchestrator.simulator.dialplan import extensions_from_xml
from orchestrator.simulator.eavesdrop import payments_extensions
from orchestrator.store import open_store
from orchestrator.store.instances import InstanceTable
from tests.support.agent import PAYING_CALLER, TOKENS, agent_api_config, owned_by, read_stream, sse_events
from tests.support.canary import traces
from tests.support.service import FLOWS
from tests.support.switch import start_switch
from tests.support.waiting import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIALPLAN = os.path.join(ROOT, "freeswitch_conf", "dialplan")
HANGING_CARD = "4000000000000507"       # the sandbox charges it, then never answers
CLUSTER = {"heartbeat_interval": 0.5, "dead_after": 4.0, "request_timeout": 10.0,
           "takeover_retry": 2.0}


def paying(number):
    return [{"wait_prompt": 3}, {"press": number + "#"}, {"wait_prompt": 4}, {"press": "1230"},
            {"wait_prompt": 5}, {"press": "737"}]


class Instance:
    def __init__(self, folder, name, url, switch, sandbox_url, receiver_url="http://127.0.0.1:9/"):
        folder.mkdir()
        self.listen, self.http = free_port(), free_port()
        config = agent_api_config(receiver_url, "music")
        config["agent_api"]["webhooks"] = {}
        config.update({
            "listen": {"host": "127.0.0.1", "port": self.listen},
            "http": {"enabled": True, "host": "127.0.0.1", "port": self.http},
            "timeouts": {"shutdown_grace": 1.0}, "linger_seconds": 2,
            # the flows that need only the sandbox gateway (run refuses one naming what it lacks)
            "flows": {"directory": FLOWS, "names": ["welcome", "card_payment"]},
            "store": {"url": url},
            "cluster": dict(CLUSTER, name=name),
            "nodes": [{"name": "fs-" + name, "host": "127.0.0.1",
                       "port": switch.inbound_address[1], "password": switch.password}],
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox_url,
                          "read_timeout": 30.0, "max_attempts": 1}],
            "logging": {"level": "INFO"}})
        path = folder / "orchestrator.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = folder / "service.log"
        self.process = ServiceProcess(str(path), self.http, str(self.log))
        self.base = "http://127.0.0.1:%d" % self.http

    @property
    def address(self):
        return ("127.0.0.1", self.listen)

    def api(self, method, path, who="alice", body=None):
        headers = {"Authorization": "Bearer " + TOKENS[who]}
        return requests.request(method, self.base + "/api/v1" + path, headers=headers,
                                json=body, timeout=30)

    def cluster(self):
        return requests.get(self.base + "/readyz", timeout=5).json()["cluster"]


@pytest.fixture
def world(tmp_path, postgres_schema):
    switches = [start_switch(), start_switch()]
    sandbox = SandboxGateway(hang_seconds=120.0).start()
    a = Instance(tmp_path / "a", "a", postgres_schema.url, switches[0], sandbox.url)
    b = Instance(tmp_path / "b", "b", postgres_schema.url, switches[1], sandbox.url)
    try:
        a.process.start()
        b.process.start()
        yield switches, sandbox, a, b
    finally:
        for instance in (b, a):
            if instance.process.process is not None:
                instance.process.stop(signal.SIGKILL if instance.process.pid else signal.SIGTERM)
        for switch in switches:
            switch.stop()
        sandbox.stop()


def test_an_agent_on_a_pays_a_call_on_b_then_b_is_killed_mid_payment(world, postgres_schema):
    (switch1, switch2), sandbox, a, b = world
    # switch 2 hands an agent's caller to B (payments.xml's pay), and new calls to 7100
    # try B, then A, then a person (the shipped XML)
    switch2.extensions.update(extensions_from_xml(
        sorted(glob.glob(os.path.join(DIALPLAN, "*.xml"))),
        {"orchestrator_esl_address": "%s:%d" % b.address,
         "orchestrator_esl_address_2": "%s:%d" % a.address}))
    switch2.extensions.update(payments_extensions(b.address))
    eventually(lambda: sorted(v["state"] for v in a.cluster()["instances"].values()) == ["up", "up"],
               timeout=30, what="A seeing both instances up")
    outputs = []

    # -- 1. an agent on A pays a call that B holds -------------------------------------------
    call, agent = switch2.place_bridged_call(
        CallerScript.from_data({"steps": PAYING_CALLER, "max_duration": 120}), **owned_by())
    assert a.api("POST", "/sessions", who="other", body={
        "call_uuid": call.uuid, "amount": 1250, "currency": "EUR", "reference": "INV-1"}
    ).status_code == 404                                   # globex's agent: not theirs
    reply = a.api("POST", "/sessions", body={"call_uuid": call.uuid, "amount": 1250,
                                             "currency": "EUR", "reference": "INV-1"})
    assert reply.status_code == 201, reply.text
    session = reply.json()
    outputs.append(reply.text)
    stream = []
    reader = gevent.spawn(read_stream, "%s/api/v1/sessions/%s/events?access_token=%s"
                          % (a.base, session["id"], TOKENS["alice"]), stream)
    call.wait(timeout=90)
    reader.join(timeout=30)
    events = sse_events("".join(stream[1:]))
    outputs.append("".join(stream))
    assert events[0][0] == "snapshot" and [p["state"] for e, p in events if e == "state"][-2:] == [
        "approved", "ended"]
    final = a.api("GET", "/sessions/" + session["id"]).json()
    outputs.append(json.dumps(final))
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "1111"
    store = open_store(postgres_schema.url)
    try:
        paid = [p for p in store.list() if p["call_uuid"] == call.uuid]
        assert [(p["status"], p["card"]) for p in paid] == [("approved", "411111******1111")]
        assert len(sandbox.charges_for(paid[0]["idempotency_key"])) == 1

        # -- 2. B is killed while a payment is with the gateway ------------------------------
        doomed = switch2.place_call_to("7100", caller=CallerScript.from_data(
            {"steps": paying(HANGING_CARD), "max_duration": 120}),
            variables={"pay_reference": "INV-KILL"})
        eventually(lambda: any(c["reference"] == "INV-KILL" for c in sandbox.charges),
                   timeout=60, what="the doomed payment charged by the gateway")
        b.process.stop(signal.SIGKILL)
        record = doomed.wait(timeout=30)
        assert record.sockets == [("%s:%d" % b.address, True)]     # B had it; A never dialled
        assert record.fallback_reached and record.transferred_to == "agent XML default"
        [left] = [p for p in store.list() if p["call_uuid"] == doomed.uuid]
        assert left["status"] == "pending"          # B died before the gateway answered

        def settled():
            row = store.get(left["id"])
            return row if row["status"] == "approved" and not row["needs_reconciliation"] else None
        row = eventually(settled, timeout=60, what="A reconciling B's pending payment")
        assert row["card"] == "400000******0507"
        assert len(sandbox.charges_for(left["idempotency_key"])) == 1     # charged once
        # the takeover counts the payment after writing it, then forgets B's calls: once they
        # are gone its count is final (a retry meanwhile would have counted nothing)
        [b_name] = [k for k, v in a.cluster()["instances"].items() if not v["self"]]
        eventually(lambda: InstanceTable(store.backend).calls_of(b_name) == [], timeout=30,
                   what="A forgetting B's calls once their payments are settled")
        assert a.process.metric("payivr_instance_takeovers_total") == 1
        assert a.process.metric("payivr_takeover_payments_total", outcome="settled") == 1
        states = {v["state"] for k, v in a.cluster()["instances"].items() if not v["self"]}
        assert states == {"dead"}

        # -- 3. new calls go to the survivor ------------------------------------------------
        charges_before = len(sandbox.charges)
        fresh = switch2.place_call_to("7100", caller=CallerScript.from_data(
            {"steps": PAYING_CALLER, "max_duration": 120}), variables={"pay_reference": "INV-NEW"})
        record = fresh.wait(timeout=90)
        assert record.sockets == [("%s:%d" % b.address, False), ("%s:%d" % a.address, True)]
        [new] = [p for p in store.list() if p["call_uuid"] == fresh.uuid]
        assert new["status"] == "approved" and len(sandbox.charges) == charges_before + 1
        assert requests.get(a.base + "/readyz", timeout=5).status_code == 200
        outputs += [json.dumps(store.list()), json.dumps(sandbox.charges)]
    finally:
        store.close()
    a.process.stop()
    outputs += [a.log.read_text(), b.log.read_text()]
    for text in outputs:
        assert traces(text) == []
    assert HANGING_CARD not in "".join(outputs)
