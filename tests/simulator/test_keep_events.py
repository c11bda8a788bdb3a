"""``Switch(keep_events=False)``, for load drivers: the events a socket subscribed to still
reach it, byte for byte as when every event is kept, and nothing else is built or kept."""
import re

import gevent

from orchestrator.simulator import CallerScript, Switch
from orchestrator.simulator import channel as sim_channel
from tests.support.raw_esl import Orchestrator, execute, start_session


def one_call(keep_events, monkeypatch):
    """A call whose socket takes CHANNEL_EXECUTE_COMPLETE only (as ``nixevent`` leaves the
    service): what reached it (event names and bodies with the per-event stamps taken out),
    how many events the channel built, and what its record kept."""
    built = []
    real = sim_channel.SimChannel.build_event

    def counting(self, name, *args, **kwargs):
        built.append(name)
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(sim_channel.SimChannel, "build_event", counting)
    orch = Orchestrator()
    switch = Switch(time_scale=0.01, keep_events=keep_events).start()
    try:
        call = switch.place_call(orch.address, caller=CallerScript.silent(max_duration=30))
        esl = start_session(orch)
        assert esl.cmd("nixevent CHANNEL_EXECUTE CHANNEL_STATE CHANNEL_PARK CHANNEL_UNPARK "
                       "CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE CHANNEL_PROGRESS_MEDIA "
                       "CHANNEL_CREATE CHANNEL_DATA CHANNEL_APPLICATION").reply.startswith("+OK")
        execute(esl, "answer", event_uuid="e-1", lock=True)
        esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
        execute(esl, "playback", "hello.wav", event_uuid="e-2", lock=True)
        esl.wait_event("CHANNEL_EXECUTE_COMPLETE", lambda m: m.event.get("Application-UUID") == "e-2")
        esl.cmd("api uuid_kill %s" % call.uuid)
        esl.wait_event("CHANNEL_HANGUP")
        esl.send("exit")
        call.wait(timeout=10)
        stamps = re.compile(r"(Event-Date-\w+|Event-Sequence|Caller-Channel-\w+-Time|"
                            r"variable_\w+_(time|stamp|epoch|sec|usec)|\w+-Timestamp): [^\n]*\n")
        got = [(m.name, stamps.sub("", m.body)) for m in esl.events]
        return got, built, list(call.record.events)
    finally:
        switch.stop()
        orch.close()
        gevent.sleep(0)


def test_a_load_driver_gets_the_same_events_and_the_unwanted_are_never_built(monkeypatch):
    kept, built_kept, record_kept = one_call(True, monkeypatch)
    lean, built_lean, record_lean = one_call(False, monkeypatch)
    assert [name for name, _ in kept] == ["CHANNEL_EXECUTE_COMPLETE"] * 2 + ["CHANNEL_HANGUP"]
    assert [name for name, _ in lean] == [name for name, _ in kept]
    for (_, mine), (_, theirs) in zip(lean, kept):
        # uuids and clock readings differ from call to call; the rest is the same bytes
        varying = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                             r"|[0-9]{10,}")
        assert varying.sub("V", mine) == varying.sub("V", theirs)
    assert record_kept and len(built_kept) > len(built_lean)
    assert record_lean == []
    assert set(built_lean) <= {"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP"}
