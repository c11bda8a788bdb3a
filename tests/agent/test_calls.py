"""GET /calls and GET /me over real HTTP on the simulator: an agent finds their caller's call by
who they are (the calls bridged to their own leg, any node), never another agent's or tenant's;
a supervisor sees the tenant's; each request is audited. Ownership comes from the switch
(``pay_tenant`` on the caller, ``pay_agent_id`` on the agent's leg: ``owned_by``)."""
import io
import json
import logging

import pytest

from orchestrator.logs import setup_logging
from orchestrator.simulator import CallerScript
from orchestrator.simulator.eavesdrop import payments_extensions
from tests.support.agent import Rig, owned_by
from tests.support.waiting import eventually


def listed(rig, who):
    reply = rig.request("GET", "/calls", who)
    assert reply.status_code == 200, reply.text
    return reply.json()


def uuids(answer):
    return sorted(call["call_uuid"] for call in answer["calls"])


def test_each_token_lists_the_calls_bridged_to_its_own_agent_and_nothing_else(rig):
    alice_1, alice_leg = rig.call(tenant="acme", agent="alice", caller_id_number="+34600111222")
    alice_2, _ = rig.call(tenant="acme", agent="alice", caller_id_number="+34600333444")
    bob, _ = rig.call(tenant="acme", agent="bob")
    gina, _ = rig.call(tenant="globex", agent="gina")
    # a caller on alice's leg whose tenant the site names no token for: nobody's
    stray, _ = rig.call(tenant="initech", agent="alice")
    mine = listed(rig, "alice")
    assert uuids(mine) == sorted([alice_1.uuid, alice_2.uuid])
    assert mine["unavailable_nodes"] == []
    first = next(c for c in mine["calls"] if c["call_uuid"] == alice_1.uuid)
    assert first["agent_uuid"] == alice_leg.uuid and first["agent"] == "alice"
    assert first["caller"] == "+********222" and first["node"] == "fs1"
    assert first["since"].endswith("+00:00") and first["session"] is None
    assert uuids(listed(rig, "bob")) == [bob.uuid]
    assert uuids(listed(rig, "acme")) == sorted([alice_1.uuid, alice_2.uuid, bob.uuid])
    assert uuids(listed(rig, "other")) == [gina.uuid]    # globex's supervisor
    assert stray.uuid not in str([listed(rig, w) for w in ("alice", "bob", "acme", "other")])
    assert gina.uuid not in str([listed(rig, w) for w in ("alice", "bob", "acme")])
    assert rig.request("GET", "/calls", token="").status_code == 401


def test_a_listed_call_starts_and_then_shows_its_session_or_leaves_the_list(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    [shown] = listed(rig, "alice")["calls"]
    reply = rig.start_payment(shown["call_uuid"])
    assert reply.status_code == 201, reply.text
    rig.wait_state(reply.json()["id"], "collecting")
    # in transfer mode the caller has left the agent's bridge: no longer a call to start on
    assert listed(rig, "alice")["calls"] == []
    rig.request("POST", "/sessions/%s/cancel" % reply.json()["id"])


def test_a_call_whose_caller_hung_up_is_no_longer_listed(rig):
    call, agent = rig.call([{"silence": 60}])
    assert uuids(listed(rig, "alice")) == [call.uuid]
    call.channel.hangup("NORMAL_CLEARING", by="caller")
    call.wait(timeout=30)
    assert listed(rig, "alice")["calls"] == []


def test_me_names_the_tokens_agent_and_tenant(rig):
    assert rig.request("GET", "/me", "alice").json() == {
        "tenant": "acme", "agent": "alice", "admin": False, "extension": "1001", "refund": False}
    assert rig.request("GET", "/me", "acme").json() == {
        "tenant": "acme", "agent": None, "admin": False, "extension": None, "refund": False}
    assert rig.request("GET", "/me", token="not-a-token-at-all").status_code == 401


@pytest.fixture
def two_nodes(tmp_path, make_switch):
    second = make_switch(hostname="sim-freeswitch-2")

    def add_second(config):
        config["nodes"] = [{"name": "fs2", "host": "127.0.0.1", "port": second.inbound_address[1],
                            "password": second.password}]
    rig = Rig(tmp_path, fail_first=0, configure=add_second)
    try:
        second.extensions.update(payments_extensions(rig.service.address))
        assert rig.service.pool.node("fs2").wait_connected(5)
        yield rig, second
    finally:
        rig.stop()


def test_calls_on_every_node_are_listed_and_a_node_that_is_down_is_named(two_nodes):
    rig, second = two_nodes
    here, _ = rig.call()
    there, _ = second.place_bridged_call(CallerScript.from_data({"steps": [], "max_duration": 120}),
                                         **owned_by())
    answer = listed(rig, "alice")
    assert {(c["call_uuid"], c["node"]) for c in answer["calls"]} == {(here.uuid, "fs1"),
                                                                      (there.uuid, "fs2")}
    second.stop()
    eventually(lambda: listed(rig, "alice")["unavailable_nodes"] == ["fs2"], timeout=15,
               what="fs2 named as not connected")
    assert uuids(listed(rig, "alice")) == [here.uuid]


def test_listing_calls_and_asking_who_am_i_are_audited(rig):
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        rig.call()
        listed(rig, "alice")
        rig.request("GET", "/me", "alice")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    audit = [line for line in lines if line["logger"] == "orchestrator.audit"]
    calls = [line for line in audit if line.get("action") == "calls"]
    whoami = [line for line in audit if line.get("action") == "whoami"]
    assert len(calls) == 1 and len(whoami) == 1, audit
    assert calls[0]["tenant"] == "acme" and calls[0]["agent"] == "alice"
    assert calls[0]["detail"] == "calls=1" and str(calls[0]["status"]) == "200"
