"""Two orchestrator instances in this process sharing one PostgreSQL store, each with its own
simulated switch (connected as its node ``fs1``), sandbox gateway and agent API: what the
cluster's in-process tests run on (the two-process test is tests/cluster/test_two_processes.py)."""
from tests.support.agent import Rig
from tests.support.waiting import eventually

# fast heartbeats for the tests' clock; a forwarded request waits as in production
CLUSTER = {"heartbeat_interval": 0.3, "dead_after": 3.0, "request_timeout": 5.0,
           "takeover_retry": 1.0}


def cluster_rig(folder, url, name, **options):
    folder.mkdir(exist_ok=True)

    def configure(config):
        config.update(store={"url": url}, cluster=dict(CLUSTER, name=name))
    return Rig(folder, configure=configure, **options)


class TwoInstances:
    """``a`` and ``b``: Rigs on one store; ``b_name`` is b's instance name as a sees it."""

    def __init__(self, tmp_path, url):
        self.a = cluster_rig(tmp_path / "a", url, "a")
        try:
            self.b = cluster_rig(tmp_path / "b", url, "b")
        except BaseException:
            self.a.stop()
            raise
        self.a_name = self.a.service.cluster.instance
        self.b_name = self.b.service.cluster.instance
        eventually(lambda: self.b_name in self.a.service.cluster.peers.live_peers()
                   and self.a_name in self.b.service.cluster.peers.live_peers(),
                   timeout=15, what="each instance seeing the other alive")

    def stop(self):
        for rig in (self.b, self.a):
            rig.stop()
