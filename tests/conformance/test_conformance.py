"""The simulator answers like FreeSWITCH 1.10.12: each golden transcript, recorded from the
real switch (``record_golden.py``), is replayed against the simulator and compared.

Compared: the replies in order (content type, reply text or api body, envelope header names),
the events in order (name, application, response), each event's header names, the notices,
and whether the switch closed the connection. The differences left on purpose are listed
below, each with its reason.
"""
import glob
import os
import re
from urllib.parse import unquote

import pytest

from orchestrator.esl.transcript import read_transcript
from orchestrator.simulator import CallerScript
from tests.support.conformance_replay import Replay, golden_closed_by_switch, golden_messages, shape
from tests.support.live.card_entry import card_digits

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
GOLDEN = sorted(glob.glob(os.path.join(GOLDEN_DIR, "*.jsonl")))
PASSWORD = "conformance-pw"
# the card-entry script (docs/secure-entry.md) on the wire: read, cancel, play, hangup
SECURE = ("outbound_secure_read", "outbound_secure_cancel", "outbound_secure_play",
          "outbound_secure_hangup")
RECORDED_PAN = "4111111111111111"      # what record_golden.py keys in them

# How the simulated call must behave for a scenario to mean the same as on the real switch.
CALLERS = {
    # bridge to loopback/nowhere: the real dialplan has no such extension
    "outbound_bridge_fail": {"bridge": {"outcome": "NO_ROUTE_DESTINATION", "after": 0}},
}
NOT_FULL = {"outbound_not_full"}
SIMULATED_EXTENSIONS = {
    # the conformance context's `target`, which the golden's transfer goes to
    "target": [("playback", "silence_stream://500"), ("hangup", "NORMAL_CLEARING")],
}

# Events the real switch sends that are left out of the order comparison.
UNORDERED_EVENTS = {
    # fired when the socket application parks the channel, racing with `myevents`: the real
    # switch delivers it after myevents on some calls and before (so not at all) on others
    "CHANNEL_PARK",
}

# Event headers the real switch sends and the simulator does not, by reason.
REAL_ONLY_HEADERS = {
    # loopback-endpoint caller profile fields of the golden calls; a simulated caller has none
    "Channel-Direction", "Channel-Logical-Direction", "Channel-Dialplan", "Channel-Caller-ID-Number",
    "Channel-Orig-Caller-ID-Number", "Channel-Callee-ID-Name", "Channel-Callee-ID-Number",
    "Channel-ANI", "Channel-Destination-Number", "Channel-Unique-ID", "Channel-Source",
    "Channel-Context", "Channel-Channel-Name", "Channel-Profile-Index",
    "Channel-Profile-Created-Time", "Channel-Channel-Created-Time",
    "Channel-Channel-Answered-Time", "Channel-Channel-Progress-Time",
    "Channel-Channel-Progress-Media-Time", "Channel-Channel-Hangup-Time",
    "Channel-Channel-Transfer-Time", "Channel-Channel-Resurrect-Time",
    "Channel-Channel-Bridged-Time", "Channel-Channel-Last-Hold", "Channel-Channel-Hold-Accum",
    "Channel-Screen-Bit", "Channel-Privacy-Hide-Name", "Channel-Privacy-Hide-Number",
    "Caller-Callee-ID-Name", "Caller-Callee-ID-Number", "Caller-Channel-Progress-Time",
    "Caller-Channel-Progress-Media-Time", "Caller-Channel-Resurrect-Time",
    "Caller-Channel-Bridged-Time", "Caller-Channel-Last-Hold", "Caller-Channel-Hold-Accum",
    "Other-Type", "Other-Leg-Direction", "Other-Leg-Logical-Direction", "Other-Leg-Caller-ID-Name",
    "Other-Leg-Caller-ID-Number", "Other-Leg-Orig-Caller-ID-Name",
    "Other-Leg-Orig-Caller-ID-Number", "Other-Leg-Callee-ID-Name", "Other-Leg-Callee-ID-Number",
    "Other-Leg-Network-Addr", "Other-Leg-ANI", "Other-Leg-Destination-Number",
    "Other-Leg-Unique-ID", "Other-Leg-Source", "Other-Leg-Context", "Other-Leg-Channel-Name",
    "Other-Leg-Profile-Created-Time", "Other-Leg-Channel-Created-Time",
    "Other-Leg-Channel-Answered-Time", "Other-Leg-Channel-Progress-Time",
    "Other-Leg-Channel-Progress-Media-Time", "Other-Leg-Channel-Hangup-Time",
    "Other-Leg-Channel-Transfer-Time", "Other-Leg-Channel-Resurrect-Time",
    "Other-Leg-Channel-Bridged-Time", "Other-Leg-Channel-Last-Hold",
    "Other-Leg-Channel-Hold-Accum", "Other-Leg-Screen-Bit", "Other-Leg-Privacy-Hide-Name",
    "Other-Leg-Privacy-Hide-Number", "Other-Leg-Dialplan", "Other-Leg-Username",
    "Other-Leg-Profile-Index", "Other-Leg-RDNIS", "Other-Leg-Channel-Name",
    # codec bit rates: L16 on loopback; the simulator does not model codecs
    "Channel-Read-Codec-Bit-Rate", "Channel-Write-Codec-Bit-Rate",
}
# Event headers the simulator sends and the golden calls did not have, by reason.
SIM_ONLY_HEADERS = {
    # a simulated caller is a SIP caller: username and network address of the caller profile
    "Caller-Username", "Caller-Network-Addr",
    # FreeSWITCH leaves out empty caller-profile fields, and the golden calls' controlled leg
    # (the loopback b-leg) had no caller name; a simulated caller has one
    "Caller-Caller-ID-Name", "Caller-Orig-Caller-ID-Name",
}


# the golden calls' password, transfer target and missing files, on the `switch` fixture
pytestmark = pytest.mark.switch(password=PASSWORD, extensions=SIMULATED_EXTENSIONS,
                                missing_files=("/nonexistent/*",))


def _load(path):
    return os.path.splitext(os.path.basename(path))[0], read_transcript(path)


def test_goldens_are_present():
    names = {os.path.basename(p) for p in GOLDEN}
    for wanted in ("inbound_auth_good", "inbound_auth_bad", "inbound_api", "inbound_bgapi",
                   "inbound_events", "outbound_connect", "outbound_not_full",
                   "outbound_apps_media", "outbound_apps_variables", "outbound_bridge_fail",
                   "outbound_transfer", "outbound_dtmf", "outbound_hangup_nolinger",
                   "outbound_hangup_linger", "outbound_client_dies", "outbound_narrow_events",
                   "outbound_setvar_then_execute") + SECURE:
        assert wanted + ".jsonl" in names


def test_the_secure_goldens_hold_no_keyed_digit():
    """The keys pressed and the script's FIFO lines are noted with their digits as X; the
    recorder masks longer runs anywhere else: the number keyed is nowhere, nor any 7-digit run
    of it."""
    runs = card_digits(RECORDED_PAN)
    for name in SECURE:
        path = os.path.join(GOLDEN_DIR, name + ".jsonl")
        records = read_transcript(path)
        notes = [r["text"] for r in records if r["dir"] == "note"]
        keyed = [n for n in notes if n.startswith(("press ", "fifo-line "))]
        assert keyed and not [n for n in keyed if re.search(r"\d", n)], (name, keyed)
        assert any(n.startswith("fifo-line ") for n in keyed), name
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert [r for r in runs if r in text or r in unquote(text)] == [], name


def _golden_param(path):
    name = os.path.basename(path)[:-6]
    return pytest.param(path, id=name)


@pytest.mark.parametrize("path", [_golden_param(p) for p in GOLDEN])
def test_simulator_conforms(path, switch):
    name, records = _load(path)
    caller = CallerScript.from_data({"steps": [], "max_duration": 60, **CALLERS.get(name, {})})
    replay = Replay(records, switch, caller=caller, full=name not in NOT_FULL).run()
    assert not replay.problems, "\n".join(replay.problems)
    compare(golden_messages(records), replay.messages)
    if golden_closed_by_switch(records):
        assert replay.client.closed.is_set()


def test_variables_set_in_the_write_of_an_application_reach_it(switch):
    """Channel.start's one write (api uuid_setvar_multi, api uuid_setvar with a value holding
    ``;`` and ``=``, then the sendmsg): on the real switch and on the simulator the
    application saw every variable, as they were sent."""
    name, records = _load(os.path.join(GOLDEN_DIR, "outbound_setvar_then_execute.jsonl"))
    replay = Replay(records, switch).run()
    assert not replay.problems, "\n".join(replay.problems)

    def copied(messages):
        return [m.get("variable_conformance_copy") for m in messages
                if m.event_name == "CHANNEL_EXECUTE_COMPLETE" and m.get("Application") == "set"]

    assert copied(golden_messages(records)) == ["one/two/x=1;y"]
    assert copied(replay.messages) == ["one/two/x=1;y"]


def compare(real, sim):
    real_shapes = [shape(m) for m in real]
    sim_shapes = [shape(m) for m in sim]
    _compare_replies([s for s in real_shapes if s["kind"] in ("reply", "connect", "other")],
                     [s for s in sim_shapes if s["kind"] in ("reply", "connect", "other")])
    real_events = [s for s in real_shapes if s["kind"] == "event"]
    sim_events = [s for s in sim_shapes if s["kind"] == "event"]
    assert _event_order(sim_events) == _event_order(real_events)
    _compare_event_headers(real_events, sim_events)
    assert ([(s["disposition"], s["envelope"], s["body"]) for s in sim_shapes if s["kind"] == "notice"]
            == [(s["disposition"], s["envelope"], s["body"]) for s in real_shapes
                if s["kind"] == "notice"])


def _compare_replies(real, sim):
    assert [s["kind"] for s in sim] == [s["kind"] for s in real]
    for r, s in zip(real, sim):
        if r["kind"] == "connect":
            assert (s["reply"], s["mode"], s["control"]) == (r["reply"], r["mode"], r["control"])
            _check_names("connect reply", r["headers"], s["headers"])
        else:
            assert s == r


def _event_order(events):
    return [(e["name"], e["app"], e["response"]) for e in events
            if e["name"] not in UNORDERED_EVENTS]


def _compare_event_headers(real_events, sim_events):
    real_by_name, sim_by_name = {}, {}
    for e in real_events:
        real_by_name.setdefault(e["name"], set()).update(e["headers"])
    for e in sim_events:
        sim_by_name.setdefault(e["name"], set()).update(e["headers"])
    for name in set(real_by_name) & set(sim_by_name):
        _check_names(name, real_by_name[name], sim_by_name[name])
    # whether an event carries the channel variables at all (a DTMF event does not)
    real_vars = {e["name"]: e["variables"] for e in real_events}
    sim_vars = {e["name"]: e["variables"] for e in sim_events}
    assert {n: v for n, v in sim_vars.items() if n in real_vars} == \
        {n: v for n, v in real_vars.items() if n in sim_vars}


def _check_names(what, real, sim):
    missing = set(real) - set(sim) - REAL_ONLY_HEADERS
    extra = set(sim) - set(real) - SIM_ONLY_HEADERS
    assert not missing and not extra, "%s: headers only on the real switch %s, only in the " \
        "simulator %s" % (what, sorted(missing), sorted(extra))
