import json
import gevent

from orchestrator.simulator import CallerScript

from tests.support.raw_esl import RawESL, start_session


def authed(switch) -> RawESL:
    esl = RawESL.connect(switch.inbound_address)
    assert esl.read().type == "auth/request"
    assert esl.cmd("auth s3cret").reply == "+OK accepted"
    return esl


def test_auth_accepted(switch):
    esl = authed(switch)
    esl.close()


def test_auth_rejected_then_closed(switch):
    esl = RawESL.connect(switch.inbound_address)
    esl.read()
    assert esl.cmd("auth wrong").reply == "-ERR invalid"
    seen = esl.wait_closed()
    assert [m.type for m in seen] == ["text/disconnect-notice"]
    assert seen[0].body == "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def test_commands_before_auth_are_refused(switch):
    esl = RawESL.connect(switch.inbound_address)
    esl.read()
    assert esl.cmd("api status").reply == "-ERR command not found"
    esl.close()


def test_exit_says_bye_and_closes(switch):
    esl = authed(switch)
    assert esl.cmd("exit").reply == "+OK bye"
    seen = esl.wait_closed()
    assert seen and seen[-1].type == "text/disconnect-notice"


def test_api_status_and_unknown(switch):
    esl = authed(switch)
    status = esl.cmd("api status")
    assert status.type == "api/response"
    assert "is ready" in status.body and status.body.startswith("UP ")
    assert esl.cmd("api frobnicate now").body == "-ERR frobnicate Command not found!\n"
    assert esl.cmd("api uuid_exists nope").body == "false"
    assert esl.cmd("api uuid_kill nope").body == "-ERR No such channel!\n"
    assert esl.cmd("api show channels").body == "\n0 total.\n"
    assert json.loads(esl.cmd("api show channels as json").body) == {"row_count": 0}


def test_api_on_live_channel(switch, orch):
    call = switch.place_call(orch.address, caller=CallerScript.silent(max_duration=60),
                             variables={"pay_flow": "welcome"})
    session = start_session(orch)
    esl = authed(switch)
    uuid = call.uuid
    assert esl.cmd(f"api uuid_exists {uuid}").body == "true"
    assert esl.cmd(f"api uuid_getvar {uuid} pay_flow").body == "welcome"
    assert esl.cmd(f"api uuid_getvar {uuid} nothing_here").body == "_undef_"
    assert esl.cmd(f"api uuid_setvar {uuid} color blue").body == "+OK\n"
    assert call.channel.variables["color"] == "blue"
    assert uuid in esl.cmd("api show channels").body
    listed = json.loads(esl.cmd("api show channels as json").body)
    assert listed["row_count"] == 1 and listed["rows"][0]["uuid"] == uuid
    assert listed["rows"][0]["cid_num"] == call.channel.caller_id_number
    assert esl.cmd(f"api uuid_kill {uuid} USER_BUSY").body == "+OK\n"
    session.wait_event("CHANNEL_HANGUP", lambda m: m.event["Hangup-Cause"] == "USER_BUSY")
    record = call.wait(5)
    assert record.hangup_cause == "USER_BUSY" and record.hangup_by == "service"


def test_bgapi_and_background_job(switch):
    esl = authed(switch)
    assert esl.cmd("event plain BACKGROUND_JOB").reply == "+OK event listener enabled plain"
    reply = esl.cmd("bgapi status")
    job = reply.headers["Job-UUID"]
    assert reply.reply == f"+OK Job-UUID: {job}"
    ev = esl.wait_event("BACKGROUND_JOB")
    assert ev.event["Job-UUID"] == job
    assert ev.event["Job-Command"] == "status"
    assert "is ready" in ev.event_body


def test_bgapi_job_not_delivered_without_subscription(switch):
    esl = authed(switch)
    esl.cmd("event plain CHANNEL_ANSWER")
    esl.cmd("bgapi status")
    gevent.sleep(0.2)
    esl.sock.settimeout(0.2)
    try:
        leftover = esl.sock.recv(65536)
    except OSError:
        leftover = b""
    assert b"BACKGROUND_JOB" not in leftover


def test_event_subscription_json_and_filter(switch, orch):
    esl = authed(switch)
    assert esl.cmd("event plain").reply == "-ERR no keywords supplied"
    assert esl.cmd("event json CHANNEL_CREATE CHANNEL_EXECUTE").reply == "+OK event listener enabled json"
    call = switch.place_call(orch.address, caller=CallerScript.silent(max_duration=60), destination="2000")
    ev = esl.wait_event("CHANNEL_CREATE")
    assert ev.type == "text/event-json"
    assert ev.event["Unique-ID"] == call.uuid
    assert ev.event["Caller-Destination-Number"] == "2000"
    assert esl.cmd("filter Unique-ID no-such-call").reply == "+OK filter added. [Unique-ID]=[no-such-call]"
    session = start_session(orch)
    session.cmd("sendmsg\ncall-command: execute\nexecute-app-name: answer")
    session.wait_event("CHANNEL_EXECUTE")
    gevent.sleep(0.1)
    assert not [m for m in esl.events if m.name == "CHANNEL_EXECUTE"]
    call.hangup()
    call.wait(5)


def test_sendmsg_to_an_agent_leg_is_refused_not_a_crash(switch):
    """The simulated agent leg runs no applications: a sendmsg naming it is answered -ERR,
    and the connection stays up (it used to end in an AttributeError and a reset)."""
    call, agent = switch.place_bridged_call()
    esl = authed(switch)
    reply = esl.cmd(f"sendmsg {agent.uuid}\ncall-command: execute\nexecute-app-name: playback\n"
                    "execute-app-arg: ivr/ivr-welcome.wav")
    assert reply.reply.startswith("-ERR")
    assert esl.cmd("api status").body.startswith("UP ")
    esl.close()


def test_global_getvar_core_uuid_is_the_core_uuid_its_events_carry(make_switch):
    switch = make_switch(hostname="sim-b")
    esl = authed(switch)
    core_uuid = esl.cmd("api global_getvar core_uuid").body
    assert core_uuid == switch.event_factory.core_uuid
    assert esl.cmd("api global_getvar hostname").body == "sim-b"
    # an empty answer, as mod_event_socket words it
    assert esl.cmd("api global_getvar no_such_variable").body == "-ERR no reply\n"
    assert core_uuid != make_switch().event_factory.core_uuid       # one per switch
    esl.close()


def test_inbound_commands_keep_what_each_client_asked_bounded(switch):
    from orchestrator.simulator.switch import INBOUND_COMMANDS_KEPT
    esl = authed(switch)
    esl.cmd("api uuid_exists 0123456789")
    assert list(switch.inbound_commands) == ["uuid_exists 0123456789"]
    for _ in range(INBOUND_COMMANDS_KEPT + 5):
        switch.inbound_commands.append("status")
    assert len(switch.inbound_commands) == INBOUND_COMMANDS_KEPT
    esl.close()
