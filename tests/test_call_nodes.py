"""Several FreeSWITCH nodes behind one instance: each call is known by the node its socket came
from (matched by Core-UUID), counted per node, and a node going away leaves the others' calls
alone; /readyz shows each node and min_nodes_up decides readiness."""
import logging

import pytest

from orchestrator.config import ConfigError
from orchestrator.simulator import CallerScript
from tests.support import canary
from tests.support.service import ServiceOnSimulator
from tests.support.waiting import eventually

# a call that holds the line until its caller keys 1 (then transferred) or a minute passes
HOLD_LINE = """\
flow: hold_line
language: en
steps:
  - answer: {}
  - collect:
      into: choice
      prompt: [ivr/ivr-welcome_to_freeswitch.wav]
      choices: [1]
      first_digit_timeout: 600
      max_attempts: 1
      on: {timeout: bye}
  - transfer: "1000"
  - id: bye
    hangup: {}
"""
WAITING = {"steps": [{"wait_prompt": 1}], "max_duration": 120}


def node_entry(name, switch, password=None):
    return {"name": name, "host": "127.0.0.1", "port": switch.inbound_address[1],
            "password": password or switch.password}


@pytest.fixture
def two_nodes(tmp_path, make_switch):
    """(world, second switch): the service with fs1 (the world's switch) and fs2, both up,
    and the hold_line flow beside the shipped ones."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hold_line.yaml").write_text(HOLD_LINE)
    second = make_switch(hostname="sim-freeswitch-2")
    (tmp_path / "service").mkdir()
    world = ServiceOnSimulator(tmp_path / "service", {"flows": {"directory": str(flows)},
                                                      "nodes": [node_entry("fs2", second)]},
                               node=True, switch=make_switch())
    try:
        for name in ("fs1", "fs2"):
            assert world.service.pool.node(name).wait_connected(5)
        yield world, second
    finally:
        world.stop()


def place_holding(world, switch):
    return switch.place_call(world.address, caller=CallerScript.from_data(WAITING),
                             variables={"pay_flow": "hold_line"})


def test_calls_from_two_nodes_are_told_apart_and_counted_per_node(two_nodes):
    world, second = two_nodes
    service = world.service
    assert service.pool.node("fs1").core_uuid == world.switch.event_factory.core_uuid
    assert service.pool.node("fs2").core_uuid == second.event_factory.core_uuid
    one, two = place_holding(world, world.switch), place_holding(world, second)
    eventually(lambda: service.call_nodes.node_of(one.uuid) and service.call_nodes.node_of(two.uuid),
               timeout=15, what="both calls on the socket")
    assert service.call_nodes.node_of(one.uuid) == "fs1"
    assert service.call_nodes.node_of(two.uuid) == "fs2"
    assert world.metric("payivr_node_calls_in_progress", node="fs1") == 1
    assert world.metric("payivr_node_calls_in_progress", node="fs2") == 1
    ready, details = service.readiness()
    assert ready and details["nodes_up"] == 2 and details["min_nodes_up"] == 1
    assert {name: (state["up"], state["calls_in_progress"])
            for name, state in details["nodes"].items()} == {"fs1": (True, 1), "fs2": (True, 1)}
    one.press("1")
    two.press("1")
    for call in (one, two):
        assert world.finish(call).outcome.result == "transferred"
    assert world.metric("payivr_node_calls_total", node="fs1") == 1
    assert world.metric("payivr_node_calls_total", node="fs2") == 1
    assert world.metric("payivr_node_calls_total", node="unknown") == 0
    eventually(lambda: world.metric("payivr_node_calls_in_progress", node="fs2") == 0)
    assert service.call_nodes.node_of(one.uuid) is None and service.call_nodes.in_progress() == {
        "fs1": 0, "fs2": 0}


def test_a_call_from_a_switch_no_node_matches_runs_and_is_counted_unknown(two_nodes, make_switch,
                                                                            caplog):
    world, _ = two_nodes
    stranger = make_switch(hostname="not-configured")
    caplog.set_level(logging.WARNING, logger="orchestrator.call_nodes")
    call = place_holding(world, stranger)
    eventually(lambda: world.service.call_nodes.node_of(call.uuid), timeout=15)
    assert world.service.call_nodes.node_of(call.uuid) == "unknown"
    assert world.metric("payivr_node_calls_in_progress", node="unknown") == 1
    call.press("1")
    assert world.finish(call).outcome.result == "transferred"     # its flow ran all the same
    assert world.metric("payivr_node_calls_total", node="unknown") == 1
    assert world.metric("payivr_node_calls_total", node="fs1") == 0
    [warning] = [r.getMessage() for r in caplog.records if r.name == "orchestrator.call_nodes"]
    assert "not-configured" in warning and stranger.event_factory.core_uuid in warning


def test_a_node_going_away_mid_call_leaves_the_other_nodes_call_going(two_nodes):
    world, second = two_nodes
    service = world.service
    one, two = place_holding(world, world.switch), place_holding(world, second)
    eventually(lambda: service.call_nodes.node_of(one.uuid) and service.call_nodes.node_of(two.uuid),
               timeout=15, what="both calls on the socket")
    second.stop()                     # node 2 is gone: its call's socket and its inbound connection
    eventually(lambda: not service.pool.node("fs2").connected, timeout=10)
    eventually(lambda: world.metric("payivr_node_calls_in_progress", node="fs2") == 0, timeout=15)
    assert service.call_nodes.node_of(one.uuid) == "fs1" and not one.done
    ready, details = service.readiness()
    assert ready and details["nodes_up"] == 1 and details["nodes"]["fs2"]["up"] is False
    assert details["nodes"]["fs2"]["last_error"]      # lost, or refused on reconnecting
    one.press("1")
    assert world.finish(one).outcome.result == "transferred"
    assert world.outcomes[two.uuid][1].result != "transferred"


def test_min_nodes_up_decides_readiness(tmp_path, make_switch):
    up, wrong_password = make_switch(), make_switch()
    config = {"min_nodes_up": 2, "nodes": [node_entry("fs2", wrong_password, "not-its-password")]}
    with ServiceOnSimulator(tmp_path, config, node=True, switch=up) as world:
        service = world.service
        assert service.pool.node("fs1").wait_connected(5)
        eventually(lambda: service.pool.node("fs2").last_error, timeout=10)
        ready, details = service.readiness()
        assert not ready and details["nodes_up"] == 1 and details["min_nodes_up"] == 2
        assert "authentication refused" in details["nodes"]["fs2"]["last_error"]
        assert "not-its-password" not in str(details)
    config["min_nodes_up"] = 1
    (tmp_path / "one").mkdir()
    with ServiceOnSimulator(tmp_path / "one", config, node=True, switch=up) as world:
        assert world.service.pool.node("fs1").wait_connected(5)
        assert world.service.ready()        # one node up is enough when one is required


def test_min_nodes_up_of_zero_is_ready_with_every_node_down(tmp_path, make_switch):
    switch = make_switch()
    config = {"min_nodes_up": 0, "nodes": [node_entry("fs2", switch, "wrong")]}
    with ServiceOnSimulator(tmp_path, config, switch=switch) as world:
        eventually(lambda: world.service.pool.node("fs2").last_error, timeout=10)
        assert world.service.ready()


@pytest.mark.parametrize("config, message", [
    ({"min_nodes_up": 3}, r"min_nodes_up: 3, but only 2 node\(s\) are configured"),
    ({"nodes": [{"name": "unknown", "host": "127.0.0.1", "password": "x"}]},
     r"nodes: 'unknown' is reserved"),
])
def test_node_settings_that_cannot_work_stop_start_up(tmp_path, switch, config, message):
    if "nodes" not in config:
        config["nodes"] = [{"name": "fs2", "host": "127.0.0.1", "password": "x"}]
    with pytest.raises(ConfigError, match=message):
        ServiceOnSimulator(tmp_path, config, node=True, switch=switch)


SAY_AMOUNT = """\
flow: say_amount
language: en
steps:
  - answer: {}
  - announce: {prompt: amount_due, amount: "1250", currency: EUR}
  - hangup: NORMAL_CLEARING
"""


def test_each_node_is_asked_for_its_own_recordings_and_the_answer_kept_per_node(tmp_path, make_switch):
    """The recordings live on each switch: node 1 holds the catalog's, node 2 none; each call
    hears what its own node has, and each node is asked once (the cache is per Core-UUID)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "say_amount.yaml").write_text(SAY_AMOUNT)
    with_files, without = make_switch(), make_switch(missing_files=("/sounds/pay/*",))
    (tmp_path / "service").mkdir()
    config = {"flows": {"directory": str(flows)}, "prompts": {"audio_dir": "/sounds/pay"},
              "nodes": [node_entry("fs2", without)]}
    with ServiceOnSimulator(tmp_path / "service", config, node=True, switch=with_files) as world:
        heard, asked = {}, {}
        for name, switch in (("fs1", with_files), ("fs2", without), ("fs1-again", with_files)):
            record = world.finish(switch.place_call(world.address, variables={"pay_flow": "say_amount"})).record
            heard[name] = [(h.app, h.arg) for h in record.heard][:1]
            asked[name] = [raw for _, way, raw in record.transcript if "file_exists" in raw and way == "in"]
        assert heard["fs1"] == heard["fs1-again"] == [("playback", "/sounds/pay/en/amount_due.wav")]
        assert heard["fs2"][0][0] == "speak" and "The amount due is" in heard["fs2"][0][1]
        # amount_due.wav and the amount's words (money/EUR.major.other.wav, and.wav, ...):
        # each path asked of each node once, and never again
        assert len(asked["fs1"]) == len(set(asked["fs1"])) == len(asked["fs2"]) >= 2
        assert asked["fs1-again"] == []


def card_caller():
    return CallerScript.from_data([{"wait_prompt": 3}, {"press": canary.PAN + "#"}, {"wait_prompt": 4},
                                   {"press": canary.EXPIRY}, {"wait_prompt": 5}, {"press": canary.CODE}])


def test_a_node_on_another_host_is_shown_unable_to_take_card_entry_and_leaks_nothing(
        tmp_path, make_switch, caplog):
    """Secure entry's FIFO folder is on this host: a switch that does not see it (another host,
    here a simulator told the folder is missing) is flagged per node, and card entry on its
    calls fails without a key anywhere; the node beside the instance pays."""
    fifos = str(tmp_path / "fifos")
    beside, remote = make_switch(), make_switch(missing_files=(fifos + "/*",))
    (tmp_path / "service").mkdir()
    config = {"secure_entry": {"fifo_dir": fifos}, "nodes": [node_entry("fs2", remote)]}
    payment = {"pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
               "pay_reference": "INV-1"}
    caplog.set_level(logging.INFO)
    with ServiceOnSimulator(tmp_path / "service", config, node=True, switch=beside,
                            sandbox=True) as world:
        for name in ("fs1", "fs2"):
            assert world.service.pool.node(name).wait_connected(5)
        states = world.service.readiness()[1]["nodes"]
        assert (states["fs1"]["secure_entry"], states["fs2"]["secure_entry"]) == (True, False)
        paid = world.run_call(card_caller(), payment, timeout=60)
        assert paid.outcome.result != "error" and world.metric(
            "payivr_payments_total", tenant="default", gateway="sandbox", result="approved") == 1
        failed = world.finish(remote.place_call(world.address, caller=card_caller(),
                                                variables=payment), timeout=60)
        assert failed.outcome.result == "error"
        assert world.metric("payivr_payments_total", tenant="default", gateway="sandbox",
                            result="approved") == 1          # no second authorization
        assert canary.traces(failed.record.wire_text()) == []
    assert canary.traces("\n".join(r.getMessage() for r in caplog.records)) == []
