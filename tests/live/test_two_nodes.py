"""One Service, two real switches: the suite's switch as node ``node1`` and a second switch on
the shipped configuration as ``node2`` (tests/support/live/switches.py), both handing their
calls to the same outbound listener, each with its own inbound connection from the Service.

What is proven here on FreeSWITCH itself, not the simulator:

* the fact the call-to-node matching rests on: ``global_getvar core_uuid`` on a switch is the
  ``Core-UUID`` of the ``connect`` reply of that switch's calls on the outbound socket, and two
  switches have two different ones;
* each switch's call runs its flow and is counted under its own node
  (``payivr_node_calls_total{node}``, ``payivr_node_calls_in_progress{node}``, ``/readyz``);
* an agent payment on a call node2 holds sends node1 nothing about the call but the read-only
  ``uuid_exists`` look-up: node1's own eavesdroppers (the canary's client on ``event plain
  ALL``, its log at DEBUG) are searched for every leg of the call, and the canary runs on both
  switches;
* node2 killed (SIGKILL) while a payment on node1 goes on: that payment completes, ``/readyz``
  says node2 is down, and the agent API answers 503 ``node_unavailable`` for node2's call.
"""
import os

import gevent
import gevent.event
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from tests.support.live.agent_call import (EXTRA_EVENTS, HOLD_TONE, TOKEN, Agent, BridgedCall, node_entry,
                                           prompt_event, stay_unavailable, write_agent_config)
from tests.support.live.calls import Control
from tests.support.live.canary import Canary
from tests.support.live.card_entry import CODE, EXPIRY, PAN_APPROVED, key_card, wait_prompt
from tests.support.live.payment_service import PaymentService
from tests.support.live.switches import start_switch
from tests.support.waiting import eventually

NODE2_RTP = (45000, 49999)      # beside the SIP callers' 40000-44999 and node1's default range


# -- the second switch, its canary and its caller ------------------------------------------
@pytest.fixture
def node2(live_switch):
    if live_switch.process is None:
        pytest.skip("a second node needs the switch the suite starts itself (FREESWITCH_BIN)")
    with start_switch(live_switch.process.binary, os.environ.get("FREESWITCH_SOUNDS"),
                      socket_address=live_switch.socket_address, prefix="fs-node2-",
                      rtp_ports=NODE2_RTP) as switch:
        yield switch


@pytest.fixture
def canary2(node2, canary):
    """node2's eavesdroppers, searching for what callers keyed on either switch."""
    watch = Canary(node2, secrets=canary.secrets)
    watch.killed = False
    yield watch
    try:
        if not watch.killed:
            watch.assert_clean()
    finally:
        watch.close()


@pytest.fixture
def control2(node2, canary2):
    ctl = Control(node2, canary2)
    ctl.api("fsctl loglevel debug")
    yield ctl
    ctl.close()


def two_nodes(live_switch, node2):
    return [node_entry("node1", live_switch), node_entry("node2", node2)]


class CommandLog:
    """Every api command the Service sends over each node's inbound connection, as sent."""

    def __init__(self, service):
        self.sent = {name: [] for name in service.pool.nodes}
        for name, node in service.pool.nodes.items():
            node.api = self._kept(name, node.api)
            node.bgapi = self._kept(name, node.bgapi)

    def _kept(self, name, send):
        def sending(command, *args, **kwargs):
            self.sent[name].append(command)
            return send(command, *args, **kwargs)
        return sending

    def naming(self, name, legs):
        return [c for c in self.sent[name] if any(leg in c for leg in legs)]


def http_get(service, path):
    return requests.get("http://127.0.0.1:%d%s" % (service.http_address[1], path), timeout=10)


def node_samples(service, sample_name):
    """{node: value} of one node-labelled sample on the Service's /metrics."""
    found = {}
    for family in text_string_to_metric_families(http_get(service, "/metrics").text):
        for sample in family.samples:
            if sample.name == sample_name:
                found[sample.labels["node"]] = sample.value
    return found


def readiness(service):
    reply = http_get(service, "/readyz")
    return reply.status_code, reply.json()


def both_connected(service):
    for name in ("node1", "node2"):
        assert service.pool.nodes[name].wait_connected(15), name


def core_uuid(control):
    return control.api("global_getvar core_uuid").strip()


def key_concurrently(*calls):
    """Key the approved card on several calls at once (each at its own prompts)."""
    jobs = [gevent.spawn(key_card, control, a_leg, PAN_APPROVED, EXPIRY, CODE)
            for control, a_leg in calls]
    gevent.joinall(jobs, raise_error=True)


@pytest.fixture
def payments(tmp_path, live_switch, node2):
    """The shipped card_payment flow on both nodes, HTTP on, the agent API for node2's call."""
    connects = {}

    def kept_connect(channel):
        # the caller's leg of a loopback call, and the Core-UUID of the socket's connect reply
        connects[channel.variables.get("other_loopback_leg_uuid")] = (channel.uuid,
                                                                      channel.core_uuid)

    run = PaymentService(tmp_path, live_switch, "LIVE-NODES", kept_connect,
                         nodes=two_nodes(live_switch, node2),
                         http={"enabled": True, "host": "127.0.0.1", "port": 0},
                         tenants=["acme"],
                         agent_api={"tokens": [{"token": TOKEN, "tenant": "acme", "agent": "alice"}],
                                    "agents": {"alice": {"extension": "agent",
                                                         "context": "default"}}})
    run.connects = connects
    run.start()
    both_connected(run.service)
    yield run
    run.stop()


# -- 1 and 2: each switch's call, under its own node -----------------------------------------
def test_each_switch_call_runs_its_flow_and_is_counted_under_its_node(payments, control, control2):
    service = payments.service
    status, ready = readiness(service)
    assert status == 200 and ready["nodes_up"] == 2, ready
    assert {n: s["up"] for n, s in ready["nodes"].items()} == {"node1": True, "node2": True}
    # both switches run on this host: each sees the secure-entry folder
    assert {n: s["secure_entry"] for n, s in ready["nodes"].items()} == {"node1": True,
                                                                         "node2": True}
    assert node_samples(service, "payivr_node_secure_entry_reachable") == {"node1": 1.0,
                                                                           "node2": 1.0}

    one, two = control.call(), control2.call()
    wait_prompt(control, one, "card number")
    wait_prompt(control2, two, "card number")
    # both calls on the socket at once, each under its node
    assert node_samples(service, "payivr_node_calls_in_progress") == {
        "node1": 1.0, "node2": 1.0, "unknown": 0.0}
    assert {n: s["calls_in_progress"] for n, s in readiness(service)[1]["nodes"].items()} == {
        "node1": 1, "node2": 1}

    # the fact the matching rests on, on the real switches: the connect reply's Core-UUID is
    # the switch's global core_uuid, and the two switches have different ones
    node1_core, node2_core = core_uuid(control), core_uuid(control2)
    assert len(node1_core) == 36 and len(node2_core) == 36 and node1_core != node2_core
    assert payments.connects[one][1] == node1_core
    assert payments.connects[two][1] == node2_core
    assert {name: node.core_uuid for name, node in service.pool.nodes.items()} == {
        "node1": node1_core, "node2": node2_core}
    # and the Core-UUID every event of the call carries on its switch
    assert control.wait(one, "CHANNEL_EXECUTE").headers["Core-UUID"] == node1_core
    assert control2.wait(two, "CHANNEL_EXECUTE").headers["Core-UUID"] == node2_core

    key_concurrently((control, one), (control2, two))
    eventually(lambda: len(payments.calls) == 2, timeout=60, what="both calls ended")
    by_leg = {channel.variables.get("other_loopback_leg_uuid"): outcome
              for channel, outcome in payments.calls}
    assert {leg: o.result for leg, o in by_leg.items()} == {one: "completed", two: "completed"}
    assert sorted(r["status"] for r in service.store.list()) == ["approved", "approved"]
    assert len(payments.sandbox.charges) == 2
    for ctl, leg in ((control, one), (control2, two)):
        complete = ctl.wait(leg, "CHANNEL_HANGUP_COMPLETE", 30)
        assert complete.headers.get("variable_pay_result") == "approved"

    assert node_samples(service, "payivr_node_calls_total") == {
        "node1": 1.0, "node2": 1.0, "unknown": 0.0}
    eventually(lambda: node_samples(service, "payivr_node_calls_in_progress") == {
        "node1": 0.0, "node2": 0.0, "unknown": 0.0}, timeout=10, what="no call in progress")


# -- 3: an agent payment on node2's call reaches node2 only ---------------------------------
@pytest.fixture
def agent_two_nodes(tmp_path, live_switch, node2, control, control2):
    sandbox = SandboxGateway().start()
    config = write_agent_config(tmp_path, live_switch, sandbox, nodes=two_nodes(live_switch, node2),
                                hold="music", hold_music=HOLD_TONE)
    outcomes = []
    service = Service(load_config(str(config)),
                      on_call_end=lambda channel, flow, outcome: outcomes.append(outcome))
    sent = CommandLog(service)
    for ctl in (control, control2):        # bridges, parks, recordings: BridgedCall waits on them
        ctl.es.command("event plain %s" % EXTRA_EVENTS)
    service.start()
    both_connected(service)
    agent = Agent("http://127.0.0.1:%d/api/v1" % service.http_address[1], service, sandbox,
                  None, {"replies": []})
    agent.sent, agent.outcomes = sent, outcomes
    yield agent
    service.stop(grace=2)
    sandbox.stop()


def naming_legs(messages, legs):
    return [m for m in messages if any(leg in m.raw for leg in legs)]


def payment_ends(agent, call, session, count):
    """The flow has ended (the caller given back to the agent) and so has the session."""
    eventually(lambda: len(agent.outcomes) == count, timeout=60, what="the payment flow's end")
    assert agent.outcomes[-1].result == "transferred"
    return agent.wait_state(session["id"], "ended")


@pytest.mark.parametrize("mode", ["transfer", "stay"])
def test_agent_payment_on_node2_call_sends_node1_only_the_lookup(
        agent_two_nodes, control, control2, canary, canary2, tmp_path, mode):
    """A first payment the agent cancels mid-entry (the cancel key goes to the node the call's
    socket came from: the call is on this instance's socket then), a second one paid."""
    if mode == "stay" and stay_unavailable():
        pytest.skip(stay_unavailable())
    agent = agent_two_nodes
    call = BridgedCall(control2, str(tmp_path))
    legs = set(call.legs.values())
    node1_seen_before = len(canary.watchers.plain.messages)

    before = call.mark()
    reply = agent.start_payment(call.ab, mode)
    assert reply.status_code == 201, reply.text
    cancelled = reply.json()
    assert cancelled["call_uuid"] == call.cb and cancelled["mode"] == mode
    prompt_event(control2, call.ca, "card number")
    eventually(lambda: agent.request("GET", "/sessions/" + cancelled["id"]).json()["state"]
               == "collecting", timeout=30, what="the session collecting")
    reply = agent.request("POST", "/sessions/%s/cancel" % cancelled["id"])
    assert reply.status_code in (200, 202), reply.text
    assert payment_ends(agent, call, cancelled, 1)["result"] is None
    call.wait_bridge("CHANNEL_BRIDGE", 20, after=before)     # the caller back with the agent
    assert "uuid_recv_dtmf %s *" % call.cb in agent.sent.naming("node2", legs)

    before = call.mark()
    reply = agent.start_payment(call.ab, mode)
    assert reply.status_code == 201, reply.text
    paid = reply.json()
    if mode == "stay":     # the agent's leg listens in, on node2
        eavesdrop = call.wait(call.ab, "CHANNEL_EXECUTE", 15, after=before, Application="eavesdrop")
        assert eavesdrop.headers["Application-Data"] == call.cb
    prompt_event(control2, call.ca, "card number", nth=2)
    key_card(control2, call.ca, PAN_APPROVED, EXPIRY, CODE, nth=2)
    final = payment_ends(agent, call, paid, 2)
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "2387"
    [row] = agent.service.store.list()
    assert row["status"] == "approved" and len(agent.sandbox.charges) == 1
    call.wait_bridge("CHANNEL_BRIDGE", 20, after=before)
    assert call.alive(call.ab)
    call.hang_up_all()
    canary.settle()
    canary2.settle()

    # the Service's side: the look-ups (one per payment started) are all node1 was sent about
    # the call; node2 got the rest
    assert agent.sent.naming("node1", legs) == ["uuid_exists %s" % call.ab] * 2
    to_node2 = agent.sent.naming("node2", legs)
    assert to_node2.count("uuid_exists %s" % call.ab) == 2 and len(to_node2) > 6, to_node2

    # node1's side, from its own eavesdroppers: the API events of those look-ups and nothing
    # else that names a leg of the call, in its events or in its log at DEBUG
    on_node1 = naming_legs(canary.watchers.plain.messages[node1_seen_before:], legs)
    assert [(m.event_name, m.get("API-Command"), m.get("API-Command-Argument"))
            for m in on_node1] == [("API", "uuid_exists", call.ab)] * 2
    assert [m.event_name for m in naming_legs(canary.watchers.json.messages, legs)] == ["API"] * 2
    assert [line for line in canary.watchers.log_file_lines()
            if any(leg in line for leg in legs)] == []
    # node2's own eavesdroppers do see the payments' commands (the control of the above)
    on_node2 = [(m.get("API-Command"), m.get("API-Command-Argument"))
                for m in canary2.watchers.plain.messages if m.event_name == "API"]
    assert ("uuid_recv_dtmf", "%s *" % call.cb) in on_node2, on_node2
    assert ("uuid_exists", call.ab) in on_node2, on_node2


# -- 4: node2 killed while node1's call goes on --------------------------------------------
def test_node2_killed_node1_call_completes_and_node2_calls_get_503(
        payments, control, control2, canary2, node2):
    service = payments.service
    one, two = control.call(), control2.call()
    wait_prompt(control, one, "card number")
    wait_prompt(control2, two, "card number")
    node2_leg = payments.connects[two][0]

    canary2.killed = True           # its eavesdroppers go with the switch
    node2.process.process.kill()
    node2.process.process.wait(timeout=10)

    key_card(control, one, PAN_APPROVED, EXPIRY, CODE)
    eventually(lambda: len(payments.calls) == 2, timeout=60, what="both calls ended")
    by_leg = {channel.variables.get("other_loopback_leg_uuid"): outcome
              for channel, outcome in payments.calls}
    assert by_leg[one].result == "completed"
    assert by_leg[two].result != "completed"
    assert [r["status"] for r in service.store.list()] == ["approved"]
    assert control.wait(one, "CHANNEL_HANGUP_COMPLETE", 30).headers.get(
        "variable_pay_result") == "approved"

    def node2_down():
        status, ready = readiness(service)
        return (status == 200 and ready["nodes_up"] == 1
                and ready["nodes"]["node1"]["up"] and not ready["nodes"]["node2"]["up"])
    eventually(node2_down, timeout=15, what="/readyz saying node2 is down")
    last_error = readiness(service)[1]["nodes"]["node2"]["last_error"]
    assert last_error
    print("node2 killed: its call ended %r; /readyz node2 last_error %r"
          % (by_leg[two].result, last_error))
    assert node_samples(service, "payivr_node_calls_total") == {
        "node1": 1.0, "node2": 1.0, "unknown": 0.0}

    agent = Agent("http://127.0.0.1:%d/api/v1" % service.http_address[1], service,
                  payments.sandbox, None, None)
    for field in ("call_uuid", "agent_uuid"):
        reply = agent.request("POST", "/sessions", {field: node2_leg, "amount": 1250,
                                                    "currency": "EUR", "reference": "LIVE-N2"})
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "node_unavailable", reply.text
        assert "node2" in reply.json()["message"], reply.text
