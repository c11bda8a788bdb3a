"""The shipped failover dialplan (freeswitch_conf: extension 7100, dialplan/instances.xml) run
by the simulator against two real services on one PostgreSQL store: the first instance takes
the call; when it is not there the next one does; and a call the first took and let go goes to
a person, never to the second (which would take the card again). What this proves is the
order and the marker as the simulator runs the shipped XML; the real switch's run of the same
file is tests/live/test_failover.py, skipped without FREESWITCH_BIN."""
import glob
import os
import shutil

import pytest

from orchestrator.simulator.dialplan import extensions_from_xml
from tests.support.instances import CLUSTER
from tests.support.service import ServiceOnSimulator, caller_script
from bench.service_process import free_port
from tests.support.waiting import eventually

DIALPLAN = os.path.join(os.path.dirname(__file__), "..", "..", "freeswitch_conf", "dialplan")
FLOWS = os.path.join(os.path.dirname(__file__), "..", "..", "flows")
HANGS_UP = [{"wait_prompt": 1}, {"hangup": {}}]     # hears the first prompt, then goes
REFERENCE = {"pay_reference": "INV-7100"}


def load_shipped(switch, first, second):
    """The shipped extensions, $${orchestrator_esl_address[_2]} naming these two addresses."""
    switch.extensions.update(extensions_from_xml(
        sorted(glob.glob(os.path.join(DIALPLAN, "*.xml"))),
        {"orchestrator_esl_address": "%s:%d" % first, "orchestrator_esl_address_2": "%s:%d" % second}))


def instance(tmp_path, name, switch, url, flows=None):
    folder = tmp_path / name
    folder.mkdir()
    config = {"store": {"url": url}, "cluster": dict(CLUSTER, name=name)}
    if flows is not None:
        config["flows"] = {"directory": flows}
    return ServiceOnSimulator(folder, config, switch=switch, sandbox=True)


@pytest.fixture
def world(tmp_path, postgres_schema, switch):
    a = instance(tmp_path, "a", switch, postgres_schema.url)
    b = instance(tmp_path, "b", switch, postgres_schema.url)
    yield switch, a, b
    b.stop()
    a.stop()


def test_the_first_instance_takes_the_call(world):
    switch, a, b = world
    load_shipped(switch, a.address, b.address)
    record = switch.place_call_to("7100", caller=caller_script(HANGS_UP), variables=REFERENCE).wait(timeout=30)
    assert record.sockets == [("%s:%d" % a.address, True)]
    assert record.variables["pay_next_instance"] == "pay_fallback"     # marked taken by a
    eventually(lambda: a.outcomes, timeout=10, what="a's outcome")
    assert not b.outcomes


def test_the_next_instance_takes_new_calls_when_the_first_is_not_there(world):
    switch, a, b = world
    gone = ("127.0.0.1", free_port())                 # nothing listens there
    load_shipped(switch, gone, b.address)
    call = switch.place_call_to("7100", caller=caller_script(HANGS_UP), variables=REFERENCE)
    record = call.wait(timeout=30)
    assert record.sockets == [("%s:%d" % gone, False), ("%s:%d" % b.address, True)]
    eventually(lambda: call.uuid in b.outcomes, timeout=10, what="b's outcome")
    assert b.outcomes[call.uuid][0] == "card_payment"


def test_a_call_the_first_took_and_lost_goes_to_a_person_not_to_the_next(tmp_path, postgres_schema,
                                                                          switch):
    # a lacks the flow 7100 names: it takes the call (marks it) and closes the socket at
    # once, as an instance dying mid-call closes it; b would run the flow if it were reached
    only_welcome = tmp_path / "flows"
    only_welcome.mkdir()
    shutil.copy(os.path.join(FLOWS, "welcome.yaml"), str(only_welcome))
    a = instance(tmp_path, "a", switch, postgres_schema.url, str(only_welcome))
    b = instance(tmp_path, "b", switch, postgres_schema.url)
    try:
        load_shipped(switch, a.address, b.address)
        record = switch.place_call_to("7100", caller=caller_script(HANGS_UP), variables=REFERENCE).wait(timeout=30)
        assert record.sockets == [("%s:%d" % a.address, True)]
        assert record.fallback_reached and record.transferred_to == "agent XML default"
        assert ("speak" in [app for _, app, _, _ in record.apps])    # the agent extension ran
        assert "sensitive_dtmf" not in record.variables         # a person hears the keys again
        assert not b.outcomes and b.service.server.active_calls == 0
    finally:
        b.stop()
        a.stop()
