"""Inbound node connections against the simulator's inbound side, over real sockets."""
import gevent
import pytest

from orchestrator.esl.errors import CommandFailed, NotConnected
from orchestrator.esl.inbound import InboundPool, NodeConnection, backoff_delays
from orchestrator.metrics import Metrics


def node_for(sw, password=None, **kw):
    host, port = sw.inbound_address
    password = sw.password if password is None else password
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("backoff_cap", 0.2)
    return NodeConnection("fs1", host, port, password, connect_timeout=2, reply_timeout=2, **kw)


def test_backoff_is_capped_exponential_with_full_jitter():
    top = iter(backoff_delays(base=1, cap=8, rng=lambda: 1.0))
    assert [next(top) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    bottom = iter(backoff_delays(base=1, cap=8, rng=lambda: 0.0))
    assert next(bottom) == 0


def test_connects_authenticates_and_runs_api(switch):
    metrics = Metrics()
    node = node_for(switch, metrics=metrics)
    node.start()
    try:
        assert node.wait_connected(5)
        assert "UP" in node.api("status")
        assert metrics.registry.get_sample_value("payivr_esl_connection_up", {"node": "fs1"}) == 1
    finally:
        node.stop()
    assert not node.connected
    assert metrics.registry.get_sample_value("payivr_esl_connection_up", {"node": "fs1"}) == 0


def test_bgapi_waits_for_its_background_job(switch):
    node = node_for(switch)
    node.start()
    try:
        assert node.wait_connected(5)
        assert "UP" in node.bgapi("status", timeout=5)
    finally:
        node.stop()


def test_wrong_password_never_connects_and_says_why(switch):
    node = node_for(switch, password="wrong")
    node.start()
    try:
        assert not node.wait_connected(0.5)
        assert "password" in node.last_error
        with pytest.raises(NotConnected):
            node.api("status")
    finally:
        node.stop()


def test_reconnects_after_the_switch_restarts(make_switch):
    first = make_switch()
    host, port = first.inbound_address
    metrics = Metrics()
    node = NodeConnection("fs1", host, port, first.password, connect_timeout=1, reply_timeout=1,
                          backoff_base=0.05, backoff_cap=0.2, metrics=metrics)
    node.start()
    try:
        assert node.wait_connected(5)
        first.stop()
        with gevent.Timeout(5):
            while node.connected:
                gevent.sleep(0.02)
        make_switch(port=port)
        assert node.wait_connected(5)
        assert "UP" in node.api("status")
        assert metrics.registry.get_sample_value("payivr_esl_reconnects_total", {"node": "fs1"}) >= 1
    finally:
        node.stop()


def test_pool_reports_each_node(switch):
    host, port = switch.inbound_address
    good = NodeConnection("good", host, port, switch.password, connect_timeout=1)
    dead = NodeConnection("dead", "127.0.0.1", 1, "x", connect_timeout=0.2,
                          backoff_base=0.05, backoff_cap=0.1)
    pool = InboundPool([good, dead])
    pool.start()
    try:
        assert good.wait_connected(5)
        assert pool.status() == {"good": True, "dead": False}
        assert pool.any_connected()
    finally:
        pool.stop()
    assert pool.status() == {"good": False, "dead": False}


def test_api_error_reply_raises_command_failed_as_on_a_call_socket(switch):
    """One error contract on both kinds of socket: ``-ERR`` is a CommandFailed, never text."""
    node = node_for(switch)
    node.start()
    try:
        assert node.wait_connected(5)
        with pytest.raises(CommandFailed, match="no_such_command"):
            node.api("no_such_command")
        assert "UP" in node.api("status")          # and the connection is still good
    finally:
        node.stop()


def test_failing_command_raises(switch):
    node = node_for(switch)
    node.start()
    try:
        assert node.wait_connected(5)
        with pytest.raises(CommandFailed):
            node._conn.command("nosuchverb")
    finally:
        node.stop()


def test_each_connect_learns_the_switchs_core_uuid_and_keeps_it_while_down(make_switch):
    first = make_switch()
    host, port = first.inbound_address
    node = NodeConnection("fs1", host, port, first.password, connect_timeout=1, reply_timeout=1,
                          backoff_base=0.05, backoff_cap=0.2)
    node.start()
    try:
        assert node.wait_connected(5)
        assert node.core_uuid == first.event_factory.core_uuid
        first.stop()
        with gevent.Timeout(5):
            while node.connected:
                gevent.sleep(0.02)
        # down: its calls still name it (the agent is told the node is down, not "unknown")
        assert node.core_uuid == first.event_factory.core_uuid
        restarted = make_switch(port=port)       # a restarted switch draws a new Core-UUID
        assert node.wait_connected(5)
        assert node.core_uuid == restarted.event_factory.core_uuid != first.event_factory.core_uuid
    finally:
        node.stop()


def test_the_pool_matches_a_core_uuid_to_one_node_and_never_guesses(make_switch):
    one, two = make_switch(), make_switch()
    nodes = [NodeConnection(name, *switch.inbound_address, switch.password, connect_timeout=1)
             for name, switch in (("fs1", one), ("fs2", two), ("fs2-again", two))]
    pool = InboundPool(nodes)
    pool.start()
    try:
        assert all(node.wait_connected(5) for node in nodes)
        assert pool.node_for_switch(one.event_factory.core_uuid) is nodes[0]
        # two entries for one switch: which one holds a call would be a guess, so neither
        assert pool.node_for_switch(two.event_factory.core_uuid) is None
        assert pool.node_for_switch("a-switch-nobody-configured") is None
        assert pool.node_for_switch("") is None
        assert pool.connected_count() == 3
    finally:
        pool.stop()
    assert pool.connected_count() == 0


def test_a_switch_that_gives_no_core_uuid_is_connected_but_matches_no_call(switch, monkeypatch, caplog):
    from orchestrator.simulator import commands
    monkeypatch.setitem(commands._API, "global_getvar", lambda sw, arg: "")
    node = node_for(switch)
    node.start()
    try:
        assert node.wait_connected(5)
        assert node.core_uuid is None
        assert InboundPool([node]).node_for_switch(switch.event_factory.core_uuid) is None
        assert any("gave no core_uuid" in r.getMessage() for r in caplog.records)
    finally:
        node.stop()


def test_each_connect_asks_whether_the_switch_sees_the_secure_entry_folder(make_switch, tmp_path,
                                                                           caplog):
    folder = str(tmp_path)
    beside, elsewhere = make_switch(), make_switch(missing_files=(folder + "/*",))
    metrics = Metrics()
    nodes = [NodeConnection(name, *switch.inbound_address, switch.password, connect_timeout=1,
                            metrics=metrics, secure_fifo_dir=folder)
             for name, switch in (("beside", beside), ("elsewhere", elsewhere))]
    unasked = node_for(beside)                   # no folder given: nothing asked
    for node in nodes + [unasked]:
        node.start()
    try:
        assert all(node.wait_connected(5) for node in nodes + [unasked])
        assert [node.sees_secure_entry for node in nodes + [unasked]] == [True, False, None]
        sample = metrics.registry.get_sample_value
        assert sample("payivr_node_secure_entry_reachable", {"node": "beside"}) == 1
        assert sample("payivr_node_secure_entry_reachable", {"node": "elsewhere"}) == 0
        assert [r.getMessage() for r in caplog.records if "does not see" in r.getMessage()] == [
            "node elsewhere: the switch does not see %s (secure_entry.fifo_dir) as this host "
            "does: card entry on its calls will fail; run an instance on its host, or share the "
            "folder with it" % folder]
        asked = [c for c in beside.inbound_commands if c.startswith("file_exists")]
        assert len(asked) == 1 and asked[0].startswith("file_exists %s/probe-" % folder)
        assert list(tmp_path.iterdir()) == []   # the marker is gone again
    finally:
        for node in nodes + [unasked]:
            node.stop()


def test_a_secure_entry_folder_that_cannot_be_made_is_said_and_the_node_still_connects(
        switch, tmp_path, caplog):
    (tmp_path / "a-file").write_text("")
    node = node_for(switch, secure_fifo_dir=str(tmp_path / "a-file" / "fifos"))
    node.start()
    try:
        assert node.wait_connected(5)
        assert node.sees_secure_entry is None       # not known, rather than a wrong answer
        assert any("cannot make a marker in" in r.getMessage() for r in caplog.records)
    finally:
        node.stop()
