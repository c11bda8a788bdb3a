"""The instances and calls tables (store/instances.py) on SQLite and PostgreSQL alike: a
heartbeat, a stop, a dead instance claimed by exactly one survivor, the calls it held."""
import pytest

from orchestrator.store import PaymentStore, open_store
from orchestrator.store.instances import DEAD, STOPPED, UP, InstanceTable


@pytest.fixture(params=["sqlite", "postgresql"])
def table(request, tmp_path):
    if request.param == "sqlite":
        store = PaymentStore(str(tmp_path / "payments.sqlite"))
    else:
        store = open_store(request.getfixturevalue("postgres_schema").url)
    yield InstanceTable(store.backend)
    store.close()


def test_a_heartbeat_a_stop_and_a_restart(table):
    table.beat("a", "payivr_a", started=100.0, nodes=["fs2", "fs1"], now=105.0)
    row = table.get("a")
    assert (row["state"], row["heartbeat"], row["nodes"]) == (UP, 105.0, ["fs1", "fs2"])
    table.stopped("a")
    assert table.get("a")["state"] == STOPPED
    table.beat("a", "payivr_a", started=200.0, nodes=[], now=201.0)
    assert table.get("a")["state"] == UP and table.get("a")["started"] == 200.0


def test_a_silent_instance_is_claimed_by_one_survivor_only(table):
    table.beat("dead", "payivr_d", started=0.0, nodes=[], now=10.0)
    table.beat("b", "payivr_b", started=0.0, nodes=[], now=30.0)
    table.beat("c", "payivr_c", started=0.0, nodes=[], now=30.0)
    assert table.claim_dead("b", dead_after=10.0, now=25.0) == ["dead"]
    assert table.claim_dead("c", dead_after=10.0, now=25.0) == []        # already claimed
    row = table.get("dead")
    assert (row["state"], row["taken_over_by"]) == (DEAD, "b")
    assert table.claim_dead("b", dead_after=10.0, now=35.0) == []        # b does not claim itself
    table.stopped("c")
    assert table.claim_dead("b", dead_after=1.0, now=100.0) == []        # stopped is not dead


def test_the_calls_an_instance_holds(table):
    table.call_arrived("call-1", "a", "acme", now=1.0)
    table.call_arrived("call-2", "a", "acme", now=2.0)
    assert table.holder_of("call-1") == "a" and table.holder_of("nope") is None
    table.call_arrived("call-2", "b", "acme", now=3.0)        # the dialplan's next took it
    table.call_ended("call-2", "a")                           # a's late end leaves b's row
    assert table.holder_of("call-2") == "b"
    assert table.calls_of("a") == ["call-1"]
    table.beat("a", "payivr_a", started=0.0, nodes=[], now=0.0)
    table.claim_dead("b", dead_after=1.0, now=10.0)
    assert table.taken_over_by("b") == ["a"]
    table.forget_calls("a", ["call-1"])
    assert table.calls_of("a") == [] and table.taken_over_by("b") == []


def test_instances_long_gone_with_no_calls_are_forgotten(table):
    table.beat("stopped-long-ago", "payivr_s", started=0.0, nodes=[], now=10.0)
    table.stopped("stopped-long-ago")
    table.beat("dead-with-a-call", "payivr_d", started=0.0, nodes=[], now=10.0)
    table.claim_dead("survivor", dead_after=1.0, now=20.0)
    table.call_arrived("call-1", "dead-with-a-call", "acme", now=5.0)
    table.beat("up-but-old", "payivr_u", started=0.0, nodes=[], now=10.0)
    table.stopped("up-but-old")
    table.beat("up-but-old", "payivr_u", started=0.0, nodes=[], now=10.0)   # up again
    assert table.prune(older_than=100.0, now=50.0) == 0           # not old enough yet
    assert table.prune(older_than=100.0, now=1000.0) == 1         # only the stopped one
    assert {row["name"] for row in table.all()} == {"dead-with-a-call", "up-but-old"}
