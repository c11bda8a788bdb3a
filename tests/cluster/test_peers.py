"""This instance's view of the others (cluster/peers.py) on a real store: a silent instance is
claimed only once this one has itself beaten without a break for dead_after, so that after an
outage of the store, when every heartbeat is old, no instance takes over one that is alive."""
import time

from orchestrator.cluster.peers import PeerView
from orchestrator.store import PaymentStore, StoreError
from orchestrator.store.instances import DEAD, UP, InstanceTable


def test_a_silent_instance_is_claimed_only_after_an_unbroken_run_of_beats(tmp_path):
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    table = InstanceTable(store.backend)
    table.beat("b", "payivr_b", started=0.0, nodes=[], now=time.time() - 100)
    dead, gone = [], []
    view = PeerView(table, "a", "payivr_a", lambda: ["fs1"], interval=1.0, dead_after=5.0)
    view.on_dead.append(dead.append)
    view.on_gone.append(gone.append)
    view.beat_once()
    assert dead == [] and table.get("b")["state"] == UP          # a has only just started
    view.beating_since -= 5.0
    view.beat_once()
    assert dead == ["b"] and table.get("b")["state"] == DEAD
    assert view.status()["b"]["state"] == DEAD and view.status()["a"]["self"]

    # an outage of the store: a's own beats fail, then come back; c looks silent meanwhile
    table.beat("c", "payivr_c", started=0.0, nodes=[], now=time.time() - 100)
    real_beat = table.beat

    def failing(*args, **kwargs):
        raise StoreError("the store is down")
    table.beat = failing
    view.beat_once()
    assert view.failing
    table.beat = real_beat
    view.beat_once()
    assert dead == ["b"] and table.get("c")["state"] == UP        # not judged yet
    view.beating_since -= 5.0
    view.beat_once()
    assert dead == ["b", "c"]
    store.close()
