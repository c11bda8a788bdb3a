import re

import gevent
from urllib.parse import unquote

from orchestrator.simulator import CallerScript

from tests.support.raw_esl import execute, start_session

PAGD = "play_and_get_digits"


def script(text: str) -> CallerScript:
    return CallerScript.from_yaml(text)


def test_connect_reply_carries_channel_data(switch, orch):
    call = switch.place_call(orch.address, destination="1000", variables={"pay_flow": "welcome"},
                             caller_id_number="+34911222333")
    esl = orch.accept()
    reply = esl.cmd("connect")
    h = {k: unquote(v) for k, v in reply.headers.items()}
    assert h["Reply-Text"] == "+OK\n" and reply.headers["Reply-Text"] == "%2BOK%0A"
    assert h["Event-Name"] == "CHANNEL_DATA"
    assert h["Unique-ID"] == call.uuid
    assert h["Caller-Destination-Number"] == "1000"
    assert h["Caller-Caller-ID-Number"] == "+34911222333"
    assert h["Channel-Name"].startswith("sofia/")
    assert h["variable_pay_flow"] == "welcome"
    assert h["variable_socket_resume"] == "true"
    assert h["Socket-Mode"] == "async" and h["Control"] == "full"
    assert esl.cmd("myevents").reply == "+OK Events Enabled"
    assert esl.cmd("myevents").reply == "-ERR aready enabled."
    assert esl.cmd("linger 5").reply == "+OK will linger 5 seconds"
    assert esl.cmd("nolinger").reply == "+OK will not linger"
    assert esl.cmd("linger").reply == "+OK will linger"
    assert esl.cmd("getvar pay_flow").reply == "welcome"
    assert esl.cmd("api uuid_exists " + call.uuid).body == "true"
    call.hangup()
    esl.wait_notice()  # linger without a time: the socket stays until `exit`
    assert not call.done
    esl.cmd("exit")
    call.wait(5)


def test_without_full_session_commands_are_refused(switch, orch):
    call = switch.place_call(orch.address, full=False)
    esl = orch.accept()
    assert esl.cmd("connect").headers["Control"] == "single-channel"
    assert esl.cmd("myevents").reply == "+OK Events Enabled"
    for refused in ("api status", "bgapi status", "linger 10", "nolinger", "event plain ALL"):
        assert esl.cmd(refused).reply == "-ERR command not found", refused
    assert execute(esl, "answer").reply == "+OK"
    esl.wait_event("CHANNEL_ANSWER")
    call.hangup()
    call.wait(5)


def test_sendmsg_execute_events_match_event_uuid(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    assert execute(esl, "playback", "/sounds/welcome.wav", event_uuid="u-1", lock=True).reply == "+OK"
    start = esl.wait_event("CHANNEL_EXECUTE")
    assert start.event["Application"] == "playback"
    assert start.event["Application-Data"] == "/sounds/welcome.wav"
    assert start.event["Application-UUID"] == "u-1"
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert done.event["Application-UUID"] == "u-1"
    assert done.event["Application-Response"] == "FILE PLAYED"
    execute(esl, "set", "colour=green")  # no event-uuid: the switch makes one up
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert re.fullmatch(r"[0-9a-f-]{36}", done.event["Application-UUID"])
    assert done.event["Application-Response"] == "_none_"
    assert done.event["variable_colour"] == "green"
    record = call.record
    assert [(h.app, h.arg) for h in record.heard] == [("playback", "/sounds/welcome.wav")]
    call.hangup()
    call.wait(5)


def test_apps_run_in_order(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    for i, app in enumerate(["answer", "playback", "speak", "say"]):
        arg = {"playback": "silence_stream://100", "speak": "flite|kal|Hello", "say": "en NUMBER pronounced FEMININE 42"}.get(app, "")
        execute(esl, app, arg, event_uuid=f"e{i}")
    got = [esl.wait_event("CHANNEL_EXECUTE_COMPLETE").event["Application-UUID"] for _ in range(4)]
    assert got == ["e0", "e1", "e2", "e3"]
    assert call.record.answered
    call.hangup()
    call.wait(5)


def test_variable_persists_in_every_later_event_until_unset(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    execute(esl, "set", "secret_marker=xyz")
    execute(esl, "answer")
    execute(esl, "unset", "secret_marker")
    execute(esl, "sleep", "10")
    evs = [esl.wait_event("CHANNEL_EXECUTE_COMPLETE") for _ in range(4)]
    assert [e.event.get("variable_secret_marker") for e in evs] == ["xyz", "xyz", None, None]
    assert esl.wait_event("CHANNEL_ANSWER").event["variable_secret_marker"] == "xyz"
    call.hangup()
    call.wait(5)


def pagd(esl, var="entry", regex="\\d+", mn=1, mx=4, tries=1, timeout=2000, digit_timeout=1000):
    return execute(esl, PAGD, f"{mn} {mx} {tries} {timeout} # /p/ask.wav /p/invalid.wav {var} {regex} {digit_timeout}",
                   event_uuid="pagd")


def test_play_and_get_digits_success_with_terminator(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{wait_prompt: 1}, {press: '12#'}]"))
    esl = start_session(orch)
    pagd(esl)
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert done.event["variable_entry"] == "12"
    assert done.event["variable_read_result"] == "success"
    assert done.event["variable_read_terminator_used"] == "#"
    assert done.event["Application-Response"] == "_none_"
    assert "12" not in done.event["Application-Response"]
    assert call.record.heard[0].interrupted_by == "dtmf"
    call.hangup()
    call.wait(5)


def test_play_and_get_digits_timeout_without_digits_is_failure(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{silence: 30}]"))
    esl = start_session(orch)
    pagd(esl, tries=2)
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE", timeout=10)
    assert done.event["variable_read_result"] == "failure"
    assert "variable_entry" not in done.event
    heard = [(h.app, h.arg) for h in call.record.heard]
    assert heard == [(PAGD, "/p/ask.wav"), (PAGD, "/p/invalid.wav")] * 2
    call.hangup()
    call.wait(5)


def test_play_and_get_digits_timeout_with_enough_digits_keeps_them(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{wait_prompt: 1}, {press: '12'}]"))
    esl = start_session(orch)
    pagd(esl, mn=1, mx=4)
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE", timeout=10)
    assert done.event["variable_read_result"] == "timeout"
    assert done.event["variable_entry"] == "12"
    call.hangup()
    call.wait(5)


def test_play_and_get_digits_regex_mismatch_sets_invalid(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{wait_prompt: 1}, {press: '99#'}]"))
    esl = start_session(orch)
    pagd(esl, regex="^1\\d*$")
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE", timeout=10)
    assert "variable_entry" not in done.event
    assert done.event["variable_entry_invalid"] == "99"
    call.hangup()
    call.wait(5)


def test_dtmf_events_and_sensitive_dtmf(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{wait_prompt: 1}, {press: '5#'}, {wait_prompt: 2}, {press: '77#'}]"))
    esl = start_session(orch)
    pagd(esl, var="menu")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    dtmf = [m for m in esl.events if m.name == "DTMF"]
    assert [m.event["DTMF-Digit"] for m in dtmf] == ["5", "#"]
    assert dtmf[0].event["DTMF-Source"] and dtmf[0].event["DTMF-Duration"]
    execute(esl, "set", "sensitive_dtmf=true")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    pagd(esl, var="card")
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert done.event["variable_card"] == "77"  # the app still gets the digits
    assert len([m for m in esl.events if m.name == "DTMF"]) == 2
    assert "DTMF-Digit: 7" not in call.record.wire_text("out")
    call.hangup()
    call.wait(5)


def test_barge_in_by_playback_terminator(switch, orch):
    call = switch.place_call(orch.address, caller=script(
        "steps: [{wait_prompt: 1}, {press: '1'}, {wait: 0.2}, {press: '*'}, {wait_prompt: 2}, {press: '2'}]"))
    esl = start_session(orch)
    execute(esl, "playback", "/long.wav")       # default terminator *: the 1 does nothing
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    execute(esl, "set", "playback_terminators=any")
    execute(esl, "playback", "/other.wav")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    last = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert last.event["variable_playback_terminator_used"] == "2"
    h1, h2 = call.record.heard
    assert h1.barged and h1.interrupted_by == "dtmf"
    assert h2.barged
    assert call.record.pressed[0].taken_by is None and call.record.pressed[1].taken_by == "playback"
    call.hangup()
    call.wait(5)


def test_uuid_break_stops_running_app(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    execute(esl, "playback", "silence_stream://-1", event_uuid="forever")
    esl.wait_event("CHANNEL_EXECUTE")
    assert esl.cmd(f"api uuid_break {call.uuid}").body == "+OK\n"
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE", timeout=2)
    assert done.event["Application-UUID"] == "forever"
    assert call.record.heard[0].interrupted_by == "uuid_break"
    call.hangup()
    call.wait(5)


def test_hangup_without_linger_disconnects(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    esl.cmd("sendmsg\ncall-command: hangup\nhangup-cause: CALL_REJECTED")
    seen = esl.wait_closed()
    kinds = [m.name or m.type for m in seen if m.name != "CHANNEL_PARK"]
    # the order tests/conformance/golden/outbound_hangup_nolinger.jsonl shows on 1.10.12
    assert kinds == ["CHANNEL_HANGUP", "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_STATE",
                     "CHANNEL_STATE", "CHANNEL_HANGUP_COMPLETE", "text/disconnect-notice"]
    hangup = next(m for m in seen if m.name == "CHANNEL_HANGUP")
    assert hangup.event["Hangup-Cause"] == "CALL_REJECTED"
    assert seen[-1].headers["Content-Disposition"] == "disconnect"
    assert seen[-1].body.startswith("Disconnected, goodbye.")
    record = call.wait(5)
    assert record.hangup_by == "service" and record.hangup_cause == "CALL_REJECTED"


def test_caller_hangup_with_linger_then_exit(switch, orch):
    call = switch.place_call(orch.address, caller=script("steps: [{wait_prompt: 1}, {hangup: {}}]"))
    esl = start_session(orch, linger=30)
    execute(esl, "playback", "/a.wav", event_uuid="pb")
    esl.wait_event("CHANNEL_HANGUP")
    notice = esl.wait_notice()
    assert notice.headers["Content-Disposition"] == "linger"
    assert esl.wait_event("CHANNEL_EXECUTE_COMPLETE").event["Application-UUID"] == "pb"
    esl.wait_event("CHANNEL_HANGUP_COMPLETE")
    assert esl.cmd("exit").reply == "+OK bye"
    seen = esl.wait_closed()
    assert seen[-1].headers["Content-Disposition"] == "disconnect"
    record = call.wait(5)
    assert record.hangup_by == "caller" and record.heard[0].interrupted_by == "hangup"


def test_linger_time_passes_then_close(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch, linger=1)
    call.hangup()
    esl.wait_notice()
    seen = esl.wait_closed(timeout=5)
    assert seen[-1].type == "text/disconnect-notice"
    call.wait(5)


def test_transfer_keeps_the_socket_until_the_client_closes(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch, linger=10)
    execute(esl, "unset", "socket_resume")
    execute(esl, "transfer", "agent XML default", event_uuid="x")
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE", lambda m: m.event.get("Application-UUID") == "x")
    assert done.event["Application"] == "transfer"
    gevent.sleep(0.3)
    assert not call.record.stranded and call.record.fallback_reached is False
    assert esl.cmd("exit").reply == "+OK bye"
    esl.wait_closed()
    record = call.wait(5)
    assert record.transferred_to == "agent XML default"
    assert record.hangup_cause is None and not record.stranded


def test_closing_after_transfer_with_socket_resume_strands_the_caller(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    execute(esl, "transfer", "agent XML default", event_uuid="x")
    esl.wait_event("CHANNEL_EXECUTE_COMPLETE", lambda m: m.event.get("Application-UUID") == "x")
    esl.close()
    record = call.wait(5)
    assert record.stranded and record.outcome == "caller stranded in silence"


def test_bridge_outcomes(switch, orch):
    call = switch.place_call(orch.address, caller=script("bridge: {outcome: NO_ANSWER, after: 0.5}"))
    esl = start_session(orch)
    execute(esl, "bridge", "user/1001")
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert done.event["variable_originate_disposition"] == "NO_ANSWER"
    assert done.event["Application-Response"] == "_none_"
    assert call.channel.up  # NO_ANSWER always lets the dialplan continue
    call.hangup()
    call.wait(5)

    call = switch.place_call(orch.address, caller=script("bridge: {outcome: answered, talk: 1}"))
    esl = start_session(orch)
    execute(esl, "bridge", "user/1001")
    done = esl.wait_event("CHANNEL_EXECUTE_COMPLETE")
    assert done.event["variable_bridge_hangup_cause"] == "NORMAL_CLEARING"
    assert call.record.bridged_to == "user/1001"
    call.hangup()
    call.wait(5)

    call = switch.place_call(orch.address, caller=script("bridge: USER_BUSY"))
    esl = start_session(orch)
    execute(esl, "bridge", "user/1001")
    record = call.wait(5)
    assert record.hangup_cause == "USER_BUSY"  # no continue_on_fail: the switch hangs up


def test_socket_closed_by_orchestrator_reaches_fallback(switch, orch):
    call = switch.place_call(orch.address)
    esl = orch.accept()
    esl.close()  # accepted and closed at once
    record = call.wait(5)
    assert record.fallback_reached and record.hangup_cause is None


def test_socket_closed_mid_call_without_resume_still_reaches_fallback(switch, orch):
    call = switch.place_call(orch.address, socket_resume=False)
    esl = start_session(orch)
    esl.close()
    record = call.wait(5)
    assert record.fallback_reached and not record.stranded


def test_socket_closed_before_connect_without_resume_strands_the_caller(switch, orch):
    call = switch.place_call(orch.address, socket_resume=False)
    esl = orch.accept()
    esl.close()
    record = call.wait(5)
    assert record.stranded and not record.fallback_reached


def test_unreachable_orchestrator_falls_through(switch, orch):
    address = orch.address
    orch.close()
    record = switch.place_call(address).wait(5)
    assert record.fallback_reached and not record.socket_connected


def test_unknown_app_hangs_up(switch, orch):
    call = switch.place_call(orch.address)
    esl = start_session(orch)
    execute(esl, "no_such_app", "x")
    assert call.wait(5).hangup_cause == "DESTINATION_OUT_OF_ORDER"


def test_caller_max_duration_hangs_up(switch, orch):
    call = switch.place_call(orch.address, caller=script("max_duration: 2\nsteps: []"))
    start_session(orch)
    record = call.wait(5)
    assert record.hangup_by == "caller"
    assert "caller" in call.timeline()
