"""The recordings cache: one answer per node and path, asked again after its time, bounded."""
from orchestrator.catalog import SwitchFiles


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class OnNode:
    """What SwitchFiles reads of a call: its switch's node key, and file_exists over its socket."""

    def __init__(self, node_key, files):
        self.switch = type("Switch", (), {"node_key": node_key})()
        self.files, self.asked = set(files), []

    def file_exists(self, path):
        self.asked.append(path)
        return path in self.files


def test_each_node_is_asked_once_per_path_and_answers_for_itself():
    files = SwitchFiles(clock=Clock())
    one, two = OnNode("core-1", ["/p/en/a.wav"]), OnNode("core-2", [])
    assert files.exists(one, "/p/en/a.wav") is True
    assert files.exists(two, "/p/en/a.wav") is False     # node 2 lacks it: no answer shared
    assert files.exists(one, "/p/en/a.wav") is True
    assert one.asked == ["/p/en/a.wav"] and two.asked == ["/p/en/a.wav"]


def test_an_answer_is_asked_again_after_its_time():
    clock = Clock()
    files = SwitchFiles(ttl=10, clock=clock)
    node = OnNode("core-1", ["/a.wav"])
    files.exists(node, "/a.wav")
    clock.now = 11
    files.exists(node, "/a.wav")
    assert node.asked == ["/a.wav", "/a.wav"]


def test_the_answers_of_switches_long_restarted_are_dropped_at_the_bound():
    clock = Clock()
    files = SwitchFiles(ttl=10, clock=clock, max_known=3)
    for run in range(3):                 # one switch, restarted: a new Core-UUID each run
        files.exists(OnNode("core-run-%d" % run, []), "/a.wav")
    assert len(files) == 3
    clock.now = 20                        # those answers have expired
    current = OnNode("core-run-3", ["/a.wav"])
    assert files.exists(current, "/a.wav") is True
    assert len(files) == 1
    # fresh answers beyond the bound: kept at most max_known, never more
    for n in range(5):
        files.exists(OnNode("core-%d" % n, []), "/b.wav")
        assert len(files) <= 3
