import gc
import os

import gevent
import pytest

from orchestrator.simulator import CallerScript, ScriptError, Switch, render_timeline
from orchestrator.simulator.wire import url_encode

from tests.support.raw_esl import Orchestrator, RawESL, execute, start_session


def test_script_parses_all_steps(tmp_path):
    text = """
answer_after: 0.2
max_duration: 30
bridge: {outcome: USER_BUSY, after: 1}
steps:
  - wait_prompt: 2
  - wait: 0.5
  - press: "1234#"
    spacing: 0.05
  - silence: 6
  - hangup: {}
"""
    path = tmp_path / "caller.yaml"
    path.write_text(text)
    for source in (text, str(path)):
        s = CallerScript.from_yaml(source)
        assert [st.kind for st in s.steps] == ["wait_prompt", "wait", "press", "wait", "hangup"]
        assert s.steps[2].spacing == 0.05 and s.answer_after == 0.2 and s.bridge.outcome == "USER_BUSY"


@pytest.mark.parametrize("text, where", [
    ("steps: [{press: '12x'}]", "step 0"),
    ("steps: [{wait: 1}, {wait_prompt: 0}]", "step 1"),
    ("steps: [{wait: 1}, {wait: 1}, {shout: 1}]", "step 2"),
    ("steps: [{press: '1', wait: 2}]", "step 0"),
    ("steps: [{wait: 1, spacing: 1}]", "step 0"),
    ("max_duration: -1", "max_duration"),
    ("bridge: {outcome: MAYBE}", "bridge.outcome"),
    ("colour: red", "unknown top-level"),
])
def test_script_errors_name_the_step(text, where):
    with pytest.raises(ScriptError, match=where.replace(".", r"\.")):
        CallerScript.from_yaml(text)


def test_url_encode_like_freeswitch():
    assert url_encode("+OK\n") == "%2BOK%0A"
    assert url_encode("a b:c/d") == "a%20b%3Ac/d"
    assert url_encode("already%20done") == "already%20done"
    assert url_encode("ñ") == "%C3%B1"


def test_timeline_masks_long_digit_runs(switch, orch):
    call = switch.place_call(orch.address, caller=CallerScript.from_yaml(
        "steps: [{wait_prompt: 1}, {press: '4111111111111111#', spacing: 0.01}]"))
    esl = start_session(orch)
    execute(esl, "play_and_get_digits", "16 19 1 2000 # /card.wav silence card \\d+ 1000")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    call.hangup()
    record = call.wait(5)
    text = render_timeline(record)
    assert "4111111111111111" not in text and "****************#" in text
    assert "4111111111111111" in render_timeline(record, reveal_digits=True)


def test_timeline_masks_keys_pressed_in_secure_entry_and_shows_the_others(switch, orch):
    call = switch.place_call(orch.address, caller=CallerScript.silent(max_duration=30))
    esl = start_session(orch)
    call.press("5")                                       # a menu key: shown as it is
    esl.wait_event("DTMF")
    execute(esl, "set", "sensitive_dtmf=true")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    gevent.sleep(0.1)
    call.press("737#")                                    # a security code: masked, '#' kept
    gevent.sleep(0.05)
    call.hangup()
    record = call.wait(5)
    text = render_timeline(record, key_gap=0.05)
    assert "caller presses 5\n" in text and "caller presses ***#\n" in text
    assert "737" not in text
    assert "caller presses 737#" in render_timeline(record, reveal_digits=True, key_gap=0.05)


def _live_greenlets():
    # gevent's own resolver thread pool workers are not ours to count
    return {id(o) for o in gc.get_objects()
            if isinstance(o, gevent.Greenlet) and not o.dead and type(o).__name__ != "ThreadPoolWorker"}


def _open_fds():
    return set(os.listdir("/proc/self/fd"))


def test_stop_leaves_no_greenlet_or_socket():
    orch = Orchestrator()
    gevent.sleep(0)
    before_g, before_fd = _live_greenlets(), _open_fds()
    sw = Switch(password="pw", time_scale=0.05).start()
    esl = RawESL.connect(sw.inbound_address)
    esl.read()
    esl.cmd("auth pw")
    esl.cmd("event plain ALL")
    calls = [sw.place_call(orch.address) for _ in range(3)]
    sessions = [start_session(orch, linger=60) for _ in range(3)]
    execute(sessions[0], "playback", "silence_stream://-1")
    by_uuid = {s.cmd("getvar uuid").reply: s for s in sessions}
    calls[1].hangup()
    by_uuid[calls[1].uuid].wait_notice()  # lingering now
    sw.stop()
    esl.close()
    for s in sessions:
        s.close()
    gevent.sleep(0.05)
    leaked = _live_greenlets() - before_g
    objs = [o for o in gc.get_objects() if id(o) in leaked]
    assert not leaked, f"{len(leaked)} greenlet(s) left running: {objs!r}"
    assert _open_fds() - before_fd == set()
    assert all(c.done for c in calls)
    orch.close()


def test_timeline_numbers_the_prompts_wait_prompt_counts_and_marks_the_others(switch, orch):
    """The invalid-entry sound of play_and_get_digits is not counted by ``wait_prompt``; the
    timeline shows the numbers a script waits for, and says which prompt has none."""
    call = switch.place_call(orch.address, caller=CallerScript.from_yaml(
        "steps: [{wait_prompt: 1}, {press: '99#'}, {wait_prompt: 2}, {press: '11#'}]"))
    esl = start_session(orch)
    execute(esl, "play_and_get_digits", "2 2 2 2000 # /menu.wav /invalid.wav choice ^1\\d*$ 1000")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE", timeout=10)
    call.hangup()
    record = call.wait(5)
    assert [(h.arg, h.number) for h in record.heard] == [
        ("/menu.wav", 1), ("/invalid.wav", None), ("/menu.wav", 2)]
    lines = [line for line in render_timeline(record).splitlines() if "switch prompts" in line]
    assert "#1 switch prompts '/menu.wav'" in lines[0]
    assert "switch prompts '/invalid.wav'" in lines[1] and "(not counted by wait_prompt)" in lines[1]
    assert "#" not in lines[1].split("switch")[0]
    assert "#2 switch prompts '/menu.wav'" in lines[2]
    labelled = render_timeline(record, labels={2: "menu.again"})
    assert "#2 switch prompts '/menu.wav'  [menu.again]" in labelled
