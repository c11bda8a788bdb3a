"""The simulator offers an event only to the listeners that could want it: those tied to its
channel by ``myevents`` (or owning its job), and the untied ones (inbound clients), and files a
listener again when its ``myevents`` channel changes. Its URL encoding is switch_url_encode's."""
import random

from orchestrator.simulator import Switch
from orchestrator.simulator.events import SimEvent
from orchestrator.simulator.wire import url_encode, url_encode_bytewise


class Recorder:
    """Stands in for a connection: what the switch offered it."""

    def __init__(self, myevents_uuid=None):
        self.myevents_uuid = myevents_uuid
        self.offered = []

    def deliver(self, ev):
        self.offered.append(ev.get("Event-Sequence"))


def event(seq, uuid=None, owner=None):
    headers = [("Event-Name", "CHANNEL_EXECUTE"), ("Event-Sequence", str(seq))]
    if uuid:
        headers.append(("Unique-ID", uuid))
    if owner:
        headers.append(("Job-Owner-UUID", owner))
    return SimEvent("CHANNEL_EXECUTE", headers)


def test_events_reach_their_channel_listeners_and_the_untied_ones_only():
    switch = Switch()
    a, b, inbound = Recorder("uuid-a"), Recorder("uuid-b"), Recorder()
    for listener in (a, b, inbound):
        switch.add_listener(listener)
    switch.fire(event(1, "uuid-a"))
    switch.fire(event(2, "uuid-b"))
    switch.fire(event(3, owner="uuid-a"))            # a job of a's socket: no Unique-ID
    switch.fire(event(4, "uuid-a", owner="uuid-a"))  # both: offered once
    assert a.offered == ["1", "3", "4"]
    assert b.offered == ["2"]
    assert inbound.offered == ["1", "2", "3", "4"]
    switch.listener_closed(a)
    switch.fire(event(5, "uuid-a"))
    assert a.offered == ["1", "3", "4"] and inbound.offered[-1] == "5"


def test_a_listener_is_filed_again_when_its_myevents_channel_changes():
    switch = Switch()
    listener = Recorder()
    switch.add_listener(listener)
    switch.fire(event(1, "uuid-x"))
    old, listener.myevents_uuid = listener.myevents_uuid, "uuid-y"
    switch.listener_moved(listener, old, "uuid-y")
    switch.fire(event(2, "uuid-x"))
    switch.fire(event(3, "uuid-y"))
    assert listener.offered == ["1", "3"]


def test_an_event_header_is_found_in_any_case_and_after_more_are_appended():
    ev = event(7, "uuid-a")
    assert ev.get("unique-id") == "uuid-a" and ev.get("Missing", "d") == "d"
    ev.headers.append(("Job-Owner-UUID", "uuid-z"))
    assert ev.get("JOB-OWNER-UUID") == "uuid-z"
    ev.headers.append(("Unique-ID", "second"))      # the first of a name wins, as before
    assert ev.get("Unique-ID") == "uuid-a"


def test_url_encode_agrees_with_the_bytewise_reference():
    pieces = ["a", "%", "%2", "%2F", "%2f", "%41B", " ", "\n", "\r", "é", "€", "\x00", "\x7f",
              "~", "_", "-", "*", "'", "(", "!", "$", ",", "/", "\\", "%%41", "+", "#", "é%C3"]
    chance = random.Random(15)
    for _ in range(5000):
        value = "".join(chance.choice(pieces) for _ in range(chance.randint(0, 8)))
        assert url_encode(value) == url_encode_bytewise(value), repr(value)
