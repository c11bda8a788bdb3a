"""A simulated application's wait, when the simulator's own loop was held up: the caller and
the switch share one process there, where on a real system the caller's phone keeps its own
pace. A key the caller pressed before a read's deadline must be read even when the loop gets
to both late: the switch reads the keys already queued before it looks at the clock.

Seen in the comparison bench's card soak: a few calls in 3,000 lost a key of the expiry or the
security code when the simulator's loop stalled for 0.7 s, and failed the card entry."""
import time
from types import SimpleNamespace

import gevent
import gevent.event
from gevent.monkey import get_original
from gevent.queue import Queue

from orchestrator.simulator.apps import wait
from orchestrator.simulator.record import Press


block = get_original("time", "sleep")     # holds the whole loop up, as a busy process does


def waiting():
    return SimpleNamespace(state="answered", scaled=lambda seconds: seconds), \
        SimpleNamespace(inbox=Queue())


def caller_pressing(run, press, after):
    """As the simulator's caller script does: a pause (an Event's timed wait), then the key."""
    def press_after_pause():
        gevent.event.Event().wait(timeout=after)
        run.inbox.put(press)
    return gevent.spawn(press_after_pause)


def test_a_key_pressed_before_the_deadline_is_read_though_the_loop_got_to_both_late():
    channel, run = waiting()
    press = Press(0.0, "7")
    caller_pressing(run, press, after=0.05)           # the caller presses at 50 ms
    gevent.spawn_later(0.01, block, 0.3)            # the loop held up from 10 to 310 ms
    how, got = wait(channel, run, 0.1, lambda p: True)  # the read gives up at 100 ms
    assert (how, got) == ("dtmf", press)


def test_a_key_pressed_in_time_with_no_stall_is_read():
    channel, run = waiting()
    press = Press(0.0, "7")
    caller_pressing(run, press, after=0.02)
    assert wait(channel, run, 0.5, lambda p: True) == ("dtmf", press)


def test_with_no_key_the_wait_still_ends_at_its_deadline():
    channel, run = waiting()
    began = time.monotonic()
    assert wait(channel, run, 0.1, lambda p: True) == ("done", None)
    assert time.monotonic() - began >= 0.1


def test_keys_that_do_not_end_the_wait_are_used_up_and_the_wait_still_ends():
    channel, run = waiting()
    for digit in "12":
        run.inbox.put(Press(0.0, digit))
    assert wait(channel, run, 0.05, lambda p: False) == ("done", None)
    assert run.inbox.qsize() == 0
