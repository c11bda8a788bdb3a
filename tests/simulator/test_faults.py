import time

import pytest

from orchestrator.simulator import Faults

from tests.support.raw_esl import RawESL, execute, start_session


def test_reply_delay(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(reply_delay=0.3))
    esl = orch.accept()
    t0 = time.monotonic()
    esl.cmd("connect")
    assert time.monotonic() - t0 >= 0.3
    call.hangup()
    call.wait(5)


def test_no_reply_after_n_commands(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(no_reply_after=2))
    esl = orch.accept()
    esl.cmd("connect")
    esl.cmd("myevents")
    with pytest.raises(TimeoutError):
        esl.cmd("linger 10", timeout=0.5)
    call.hangup()
    call.wait(5)


def test_no_reply_to_named_command(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(no_reply_to="api uuid_break"))
    esl = start_session(orch)
    with pytest.raises(TimeoutError):
        esl.cmd(f"api uuid_break {call.uuid}", timeout=0.5)
    assert esl.cmd("getvar uuid").reply == call.uuid  # later commands still answered
    call.hangup()
    call.wait(5)


def test_drop_after_commands_is_abrupt_and_reaches_fallback(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(drop_after_commands=2))
    esl = orch.accept()
    esl.cmd("connect")
    assert esl.cmd("myevents").reply == "+OK Events Enabled"
    seen = esl.wait_closed()
    assert not [m for m in seen if m.type == "text/disconnect-notice"]
    assert call.wait(5).fallback_reached


def test_drop_after_seconds(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(drop_after_seconds=0.3), socket_resume=False)
    esl = start_session(orch)
    esl.wait_closed(timeout=3)
    record = call.wait(5)
    # a socket lost mid-call sends the channel on to the next dialplan action, resume or not
    assert record.fallback_reached and record.hangup_by is None


def test_stale_completion_arrives_first(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(stale_completion=True))
    esl = start_session(orch)
    execute(esl, "playback", "/a.wav", event_uuid="real")
    first = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    second = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert first.event["Application"] == second.event["Application"] == "playback"
    assert first.event["Application-UUID"] != "real"
    assert second.event["Application-UUID"] == "real"
    call.hangup()
    call.wait(5)


def test_reverse_completions(switch, orch):
    call = switch.place_call(orch.address, faults=Faults(reverse_completions=True))
    esl = start_session(orch)
    for i in range(3):
        execute(esl, "playback", "silence_stream://3000", event_uuid=f"p{i}")
    got = [esl.wait_event("CHANNEL_EXECUTE_COMPLETE").event["Application-UUID"] for _ in range(3)]
    assert got == ["p2", "p1", "p0"]
    call.hangup()
    call.wait(5)


@pytest.mark.switch(faults=Faults(reply_delay=0.2))
def test_switch_wide_faults_apply_to_inbound(switch):
    esl = RawESL.connect(switch.inbound_address)
    esl.read()
    t0 = time.monotonic()
    assert esl.cmd("auth %s" % switch.password).reply == "+OK accepted"
    assert time.monotonic() - t0 >= 0.2
    esl.close()


def test_faults_validate():
    with pytest.raises(ValueError):
        Faults(no_reply_after=-1)
