"""Stay-on-line mode through the API (docs/stay-on-line.md): the agent's leg eavesdrops on the
caller while the card is keyed and gets no key, neither as a DTMF event nor as an in-band tone;
the recording is paused for the entry; afterwards the caller's channel is itself again."""
import contextlib
import json
import time

import gevent

from orchestrator.engine import stay
from orchestrator.esl.channel import Channel as EslChannel
from orchestrator.simulator import commands as sim_commands
from tests.support.canary import traces

from tests.support.agent import CODE, PAN, SECRET, TOKENS
from tests.support.agent import read_stream, sse_events
from tests.support.stay_call import (DECLINED_PAN, RECORDING, assert_no_key_reached_the_agent,
                                     assert_restored, key_after, start_stay, stay_call)

def entered(agent):
    what = [w for _, w, _ in agent.heard]
    return what[:4] == ["unbridged", "parked", "transferred", "eavesdrop"]


def test_a_stay_payment_is_approved_and_the_agent_hears_prompts_but_no_key(rig):
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    key_after(call, "security code", CODE)
    session = start_stay(rig, call)
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    record = call.wait(timeout=60)
    reader.join(timeout=15)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved" and final["mode"] == "stay"
    assert entered(agent)
    assert agent.up and agent.bridged_to == call.uuid and record.bridged_to == agent.uuid
    assert [w for _, w, _ in agent.heard][-2:] == ["eavesdrop ended", "bridged"]
    prompts = " ".join(p for _, p in agent.prompts_heard)
    assert "card number" in prompts and "security code" in prompts
    assert_no_key_reached_the_agent(call, agent)
    assert_restored(record)
    assert not call.channel.read_muted and not record.errors and not record.torn_down
    assert record.variables["pay_mode"] == "stay" and record.variables["pay_agent_uuid"] == agent.uuid
    reads = [arg for _, app, arg, _ in record.apps if app == "lua" and " read " in arg]
    assert len(reads) == 3                          # each field read by the secure-entry script
    # the canary over the API, the stream and the webhooks
    deadline = time.monotonic() + 60
    while not any(json.loads(r["body"])["data"].get("state") == "ended"
                  for r in rig.receiver.requests):
        assert time.monotonic() < deadline, "no webhook said ended: %r" % [
            json.loads(r["body"])["data"].get("state") for r in rig.receiver.requests]
        gevent.sleep(0.05)
    texts = [json.dumps(final), "".join(stream[1:])] + [r["body"].decode() for r in rig.receiver.requests]
    for text in texts:
        assert traces(text) == []
    assert [p["state"] for e, p in sse_events("".join(stream[1:])) if e == "state"][-2:] == [
        "approved", "ended"]
    assert SECRET not in "".join(texts)


def test_a_declined_card_twice_goes_back_to_the_agent(rig):
    call, agent = stay_call(rig, [])
    for nth in (1, 2):
        key_after(call, "card number", DECLINED_PAN + "#", nth)
        key_after(call, "expiry", "1230", nth)
        key_after(call, "security code", CODE, nth)
    session = start_stay(rig, call)
    record = call.wait(timeout=60)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "declined"
    assert agent.up and agent.bridged_to == call.uuid
    assert_no_key_reached_the_agent(call, agent)
    assert_restored(record)


def test_the_agent_cancels_and_keeps_the_caller(rig):
    call, agent = stay_call(rig, [])
    key_after(call, "card number", "4111")
    session = start_stay(rig, call)
    rig.wait_state(session["id"], "collecting")
    with gevent.Timeout(10):
        while len(call.record.pressed) < 5:
            gevent.sleep(0.01)
    assert rig.request("POST", "/sessions/%s/cancel" % session["id"]).status_code == 200
    record = call.wait(timeout=30)
    final = rig.wait_state(session["id"], "ended")
    assert final["state"] == "ended" and final["result"] is None
    assert agent.up and agent.bridged_to == call.uuid
    assert_no_key_reached_the_agent(call, agent)
    assert_restored(record)
    assert not rig.sandbox.charges


def test_the_caller_hangs_up_mid_entry_and_the_agent_leg_ends(rig):
    call, agent = stay_call(rig, [])
    key_after(call, "card number", "41111111")
    session = start_stay(rig, call)
    with gevent.Timeout(10):
        while len(call.record.pressed) < 9:
            gevent.sleep(0.01)
    call.hangup()
    call.wait(timeout=30)
    rig.wait_state(session["id"], "ended")
    with gevent.Timeout(5):
        while agent.up:
            gevent.sleep(0.01)
    assert agent.hangup_cause == "NORMAL_CLEARING"
    assert [w for _, w, _ in agent.heard][-2:] == ["eavesdrop ended", "hangup"]
    assert_no_key_reached_the_agent(call, agent)


def test_the_agent_hangs_up_mid_entry_and_the_caller_is_routed_without_them(rig):
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    session = start_stay(rig, call)
    with gevent.Timeout(20):
        while rig.request("GET", "/sessions/" + session["id"]).json()["fields"]["number"]["state"] != "valid":
            gevent.sleep(0.02)
    agent.hangup("NORMAL_CLEARING", by="agent")
    record = call.wait(timeout=30)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"] is None and not rig.sandbox.charges
    assert record.hangup_by == "service"            # the flow's otherwise: goodbye
    assert_restored(record)
    assert not call.channel.read_muted
    assert_no_key_reached_the_agent(call, agent)


def test_the_orchestrator_stops_mid_entry_and_the_dialplan_gives_the_caller_back(rig):
    call, agent = stay_call(rig, [])
    key_after(call, "card number", "4111")
    session = start_stay(rig, call)
    with gevent.Timeout(10):
        while len(call.record.pressed) < 5 or not call.channel.read_muted:
            gevent.sleep(0.01)
    rig.service.server.stop(grace=0)                # the service's sockets close mid-field
    with gevent.Timeout(10):
        while agent.bridged_to != call.uuid:
            gevent.sleep(0.01)
    assert [w for _, w, _ in agent.heard][-1] == "intercepted"
    channel = call.channel
    assert not channel.read_muted and channel.recordings[RECORDING] == "recording"
    for name in ("sensitive_dtmf", "send_silence_when_idle", "hangup_cause"):
        assert name not in channel.variables, name
    assert call.channel.record.fallback_reached
    call.hangup()                                   # then the caller leaves: the agent's leg too
    record = call.wait(timeout=10)
    with gevent.Timeout(5):
        while agent.up:
            gevent.sleep(0.01)
    assert_no_key_reached_the_agent(call, agent)
    assert record.recording_log[0][1] == "pause" and record.recording_log[-1][1] == "resume"
    assert session["id"]


def test_without_the_per_field_mute_the_agent_hears_the_keys(rig, monkeypatch):
    """The negative control: the checks above are not vacuous."""
    monkeypatch.setattr(stay, "field_muted", lambda channel: contextlib.nullcontext())
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    key_after(call, "security code", CODE)
    start_stay(rig, call)
    call.wait(timeout=60)
    heard = "".join(d for _, d in agent.tones_heard)
    assert heard == "5" + PAN + "#" + "1230" + CODE
    assert [d for _, d in agent.dtmf_received] == ["5"]   # events: still none (sensitive_dtmf)


def test_a_bridge_back_with_socket_resume_still_set_tears_every_leg_down(rig, monkeypatch):
    """The simulator reproduces 1.10.12's reset, so a missing unset cannot go unnoticed."""
    real = EslChannel.clear_variable
    monkeypatch.setattr(EslChannel, "clear_variable",
                        lambda self, name: None if name == "socket_resume" else real(self, name))
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    key_after(call, "security code", CODE)
    start_stay(rig, call)
    record = call.wait(timeout=60)
    with gevent.Timeout(10):
        while not record.torn_down:
            gevent.sleep(0.02)
    assert not agent.up and record.errors


def test_a_refused_resume_of_the_recording_does_not_stop_the_rest_of_the_restore(rig, monkeypatch):
    """The switch refuses ``uuid_record ... resume``: sensitive_dtmf, send_silence_when_idle and
    socket_resume are still cleared, and the caller goes back to the agent (a bridge with
    socket_resume still set would tear every leg down)."""
    real = sim_commands._API["uuid_record"]

    def refuse_resume(switch, arg):
        return "-ERR cannot resume\n" if " resume " in arg else real(switch, arg)
    monkeypatch.setitem(sim_commands._API, "uuid_record", refuse_resume)
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    key_after(call, "security code", CODE)
    session = start_stay(rig, call)
    record = call.wait(timeout=60)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    for name in ("sensitive_dtmf", "send_silence_when_idle", "socket_resume"):
        assert record.variables.get(name) in (None, "false"), name
    assert agent.up and agent.bridged_to == call.uuid and record.bridged_to == agent.uuid
    assert not call.channel.read_muted and not record.errors and not record.torn_down
    assert call.channel.recordings[RECORDING] == "paused"     # the one step the switch refused


def test_a_refused_start_is_undone_and_the_caller_goes_back_to_the_agent(rig, monkeypatch):
    call, agent = stay_call(rig, [])
    real = sim_commands._API["uuid_transfer"]

    def refuse_the_agent(switch, arg):
        return "-ERR refused\n" if arg.startswith(agent.uuid) else real(switch, arg)
    monkeypatch.setitem(sim_commands._API, "uuid_transfer", refuse_the_agent)
    reply = rig.start_payment(call.uuid, mode="stay")
    assert reply.status_code == 409 and reply.json()["error"] == "call_refused"
    assert rig.request("GET", "/sessions").json()["sessions"] == []
    with gevent.Timeout(10):
        while agent.bridged_to != call.uuid:
            gevent.sleep(0.01)
    channel = call.channel
    for name in ("sensitive_dtmf", "send_silence_when_idle", "pay_session"):
        assert name not in channel.variables, name
    assert channel.recordings[RECORDING] == "recording"


def test_stay_needs_an_agent_leg(rig):
    call, agent = stay_call(rig, [])
    agent.hangup("NORMAL_CLEARING", by="agent")
    # the tenant's supervisor is told why; alice's leg is gone, so the call is no longer hers
    reply = rig.start_payment(call.uuid, who="acme", mode="stay")
    assert reply.status_code == 409 and reply.json()["error"] == "mode_unavailable"
    reply = rig.start_payment(call.uuid, who="alice", mode="stay")
    assert reply.status_code == 404 and reply.json()["error"] == "call_not_found"


def test_the_agent_hangs_up_during_a_field_and_the_caller_is_not_asked_again(rig):
    """The field the agent left during ends as it would (short, here), and is not asked again:
    the flow goes on without the agent (on 1.10.12 it was asked twice more, ~35 s, before)."""
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN[:9])
    session = start_stay(rig, call)
    with gevent.Timeout(20):
        while sum("card number" in h.arg for h in call.record.heard) < 1:
            gevent.sleep(0.02)
    agent.hangup("NORMAL_CLEARING", by="agent")
    record = call.wait(timeout=60)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"] is None and not rig.sandbox.charges
    assert record.hangup_by == "service"            # the flow's otherwise: goodbye
    assert sum("card number" in h.arg for h in record.heard) == 1
    assert_restored(record)
    assert not call.channel.read_muted
