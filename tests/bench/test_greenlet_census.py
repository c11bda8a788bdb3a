"""The greenlet census the comparison bench's soak reads: it must see a greenlet a call left
waiting, and see it go, or a leak of greenlets would pass the soak unseen."""
import ast
import os
import subprocess
import sys

from bench.compare import BareApp
from bench.greenlet_census import ask
from bench.service_process import REPO, free_port


COUNTING = """
from gevent import monkey; monkey.patch_all()
import gevent, gevent.event
from bench.greenlet_census import live_greenlets
counts = [live_greenlets()]
never = gevent.event.Event()
waiting = [gevent.spawn(never.wait, 30) for _ in range(5)]
unstarted = gevent.Greenlet(gevent.sleep, 1)
gevent.sleep(0)
counts.append(live_greenlets())
never.set()
gevent.joinall(waiting, timeout=5)
counts.append(live_greenlets())
print(counts)
"""


def test_a_greenlet_left_waiting_is_counted_until_it_ends_and_one_never_started_is_not():
    # in a process of its own: this one's other tests may leave greenlets ending meanwhile
    out = subprocess.run([sys.executable, "-c", COUNTING], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0, out.stderr
    before, waiting, after = ast.literal_eval(out.stdout.strip())
    assert waiting == before + 5
    assert after == before


def test_a_running_client_answers_the_census_from_outside(tmp_path):
    path = str(tmp_path / "bare.greenlets")
    bare = BareApp(free_port(), str(tmp_path / "bare.log"), census=path)
    try:
        first = ask(bare.pid, path)
        assert first >= 1               # at least its listening greenlet
        assert ask(bare.pid, path) == first      # nothing happened between: the same count
    finally:
        bare.stop()
