"""Two FreeSWITCH nodes behind one instance: every command the agent API sends about a call goes
over the inbound connection of the node holding it; when that node is down or unknown the agent
gets a 503 saying so, and no other switch gets the command."""
import gevent
import pytest

from orchestrator.agent.control import ControlError
from orchestrator.simulator import CallerScript
from orchestrator.simulator.eavesdrop import payments_extensions
from tests.support.agent import CODE, PAN, PAYING_CALLER, Rig, owned_by
from tests.support.waiting import eventually


@pytest.fixture
def two_nodes(tmp_path, make_switch):
    """(rig, second switch): the agent rig with its switch as fs1 and a second one as fs2."""
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


def about(switch, *uuids, since=0):
    """The inbound commands ``switch`` got, from the ``since``-th on, that name one of ``uuids``."""
    return [c for c in list(switch.inbound_commands)[since:] if any(u in c for u in uuids)]


def bridged_call(switch, steps, max_duration=120):
    return switch.place_bridged_call(
        CallerScript.from_data({"steps": list(steps), "max_duration": max_duration}), **owned_by())


def test_a_payment_on_node_2s_call_goes_to_node_2_and_node_1_only_answers_the_look_up(two_nodes):
    rig, second = two_nodes
    first = rig.switch
    call, agent = bridged_call(second, PAYING_CALLER)
    since = len(first.inbound_commands)
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    call.wait(timeout=60)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    # the call reached the payment socket from node 2, and was counted there
    assert rig.world.metric("payivr_node_calls_total", node="fs2") == 1
    assert rig.world.metric("payivr_node_calls_total", node="fs1") == 0
    # node 2 got the hand-over: variables, the agent parked, the transfer, the hold music
    verbs = [command.split()[0] for command in about(second, call.uuid, agent.uuid)]
    assert {"uuid_setvar_multi", "uuid_setvar", "uuid_transfer", "uuid_broadcast"} <= set(verbs)
    assert agent.bridged_to == call.uuid           # and its flow bridged the caller back
    # the last command of the session: the agent's leg, back in the bridge, no longer parked
    eventually(lambda: "uuid_setvar %s park_after_bridge" % agent.uuid in about(second, agent.uuid),
               timeout=10, what="the agent's leg released on node 2")
    # node 1 was only asked whether it held the call (it did not), never told to do anything
    assert about(first, call.uuid, agent.uuid, since=since) == ["uuid_exists " + call.uuid]


def test_a_call_on_this_instances_socket_whose_node_is_down_is_503_and_no_switch_is_asked(two_nodes):
    rig, second = two_nodes
    first, service = rig.switch, rig.service
    service.pool.node("fs2").stop()              # node 2's inbound connection is down
    call = second.place_call(service.address, caller=CallerScript.from_data(
        {"steps": [{"wait_prompt": 1}, {"silence": 30}]}), variables={"pay_flow": "welcome"})
    eventually(lambda: service.call_nodes.node_of(call.uuid), timeout=15)
    assert service.call_nodes.node_of(call.uuid) == "fs2"     # its Core-UUID, learnt before
    since = len(first.inbound_commands)
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == "node_unavailable" and "node fs2" in reply.json()["message"]
    assert about(first, call.uuid, since=since) == []
    call.hangup()


def test_a_bridged_call_no_connected_node_holds_is_503_while_a_node_is_down(two_nodes):
    rig, second = two_nodes
    first = rig.switch
    call, agent = bridged_call(second, [{"silence": 30}])
    rig.service.pool.node("fs2").stop()
    since = len(first.inbound_commands)
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == "node_unavailable" and "fs2" in reply.json()["message"]
    assert about(first, call.uuid, since=since) == ["uuid_exists " + call.uuid]
    assert "pay_session" not in call.channel.variables      # nothing reached node 2 either
    call.hangup()


def test_a_call_from_an_unknown_switch_is_503_node_unknown(two_nodes, make_switch):
    rig, _ = two_nodes
    first, service = rig.switch, rig.service
    stranger = make_switch(hostname="not-configured")
    call = stranger.place_call(service.address, caller=CallerScript.from_data(
        {"steps": [{"wait_prompt": 1}, {"silence": 30}]}), variables={"pay_flow": "welcome"})
    eventually(lambda: service.call_nodes.node_of(call.uuid), timeout=15)
    since = len(first.inbound_commands)
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 503 and reply.json()["error"] == "node_unknown", reply.text
    assert about(first, call.uuid, since=since) == []
    assert about(stranger, call.uuid) == []                  # no inbound connection there at all
    call.hangup()


def test_acting_on_a_session_whose_node_went_down_is_503_and_reaches_no_switch(two_nodes):
    rig, second = two_nodes
    first, service = rig.switch, rig.service
    call, agent = bridged_call(second, [{"wait_prompt": 3}, {"silence": 60}])
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    rig.wait_state(reply.json()["id"], "collecting")
    session = service.agent.registry.get(reply.json()["id"])
    assert service.agent.control.node_for(session) is service.pool.node("fs2")
    service.pool.node("fs2").stop()
    since_first, since_second = len(first.inbound_commands), len(second.inbound_commands)
    with pytest.raises(ControlError) as refused:
        service.agent.control.complete(session, "goodbye")
    assert refused.value.status == 503 and refused.value.code == "node_unavailable"
    assert "node fs2" in refused.value.message
    assert about(first, call.uuid, agent.uuid, since=since_first) == []
    assert about(second, call.uuid, agent.uuid, since=since_second) == []
    assert call.channel.up
    call.hangup()


def press_after(call, text, digits, timeout=30):
    """Press ``digits`` once a prompt containing ``text`` has started."""
    def run():
        with gevent.Timeout(timeout, False):
            while not any(text in h.arg for h in call.record.heard):
                gevent.sleep(0.01)
            for digit in digits:
                call.press(digit)
                gevent.sleep(0.005)
    return gevent.spawn(run)


def test_a_stay_on_line_payment_on_node_2_is_set_up_and_restored_on_node_2_only(two_nodes):
    rig, second = two_nodes
    first = rig.switch
    call, agent = bridged_call(second, [])
    press_after(call, "card number", PAN + "#")
    press_after(call, "expiry", "1230")
    press_after(call, "security code", CODE)
    since = len(first.inbound_commands)
    reply = rig.start_payment(call.uuid, mode="stay")
    assert reply.status_code == 201, reply.text
    call.wait(timeout=60)
    final = rig.wait_state(reply.json()["id"], "ended")
    assert final["result"]["status"] == "approved" and final["mode"] == "stay"
    # the agent's leg listened in on node 2 and is back in the bridge there
    assert "eavesdrop" in [w for _, w, _ in agent.heard]
    assert agent.up and agent.bridged_to == call.uuid
    verbs = {command.split()[0] for command in about(second, call.uuid, agent.uuid)}
    assert {"uuid_setvar_multi", "uuid_transfer"} <= verbs
    assert about(first, call.uuid, agent.uuid, since=since) == ["uuid_exists " + call.uuid]
