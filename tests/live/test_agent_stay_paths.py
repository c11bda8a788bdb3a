"""Stay-on-line mode's failure paths on a real FreeSWITCH, started through the agent API.

The call and the Service are those of test_agent_modes (tests/support/live/agent_call.py and the
``agent_service`` fixture: two loopback pairs, CA/CB the customer's phone and switch channel,
AA/AB the agent's, ``uuid_bridge CB AB``; the shipped card_payment flow; the sandbox gateway). Each test starts a stay-mode payment from the agent's leg and then goes
wrong in one way:

* two declined cards: the caller is bridged back to the same agent leg;
* the agent cancels through the API mid-entry: the same, nothing charged;
* the caller hangs up mid-entry: every leg ends NORMAL_CLEARING, as from a plain bridge;
* the agent hangs up mid-entry: the caller gets the flow's ``otherwise`` (goodbye) with the
  mute gone, ``sensitive_dtmf`` unset and the recording running again;
* the orchestrator is killed mid-entry (a subprocess, SIGKILL): the dialplan's ``pay_agent``
  fallback restores the caller and intercepts the agent's leg.

"Restored" is measured, not assumed: ``uuid_buglist`` of CB holds no ``audio`` bug (the read
mute of ``uuid_audio``), ``sensitive_dtmf`` is unset, a key of the caller reaches the agent as a
DTMF event again, and marker tones played by each phone are heard by the other (Goertzel, as in
test_agent_modes). In every test no run of seven card digits appears in freeswitch.log (DEBUG),
in the XML CDRs or in a DTMF event, and the agent heard no key tone during entry.
"""
import signal
import subprocess
import sys
import time

import gevent
import pytest
import requests

from tests.support.live.agent_call import (AGENT_MARK, CUSTOMER_MARK, EXTRA_EVENTS, Agent, BridgedCall,
                                           assert_no_card_anywhere, prompt_event, stay_unavailable,
                                           write_agent_config)
from tests.support.live.card_entry import (CODE, EXPIRY, PAN_APPROVED, PAN_DECLINED, PAN_DECLINED_2,
                                           is_field_read, prompt_text, wait_prompt)
from tests.support.live.fsprocess import REPO, free_port
from tests.support.live.tones import (dtmf_keys, key_in_band, keys_between, loud_seconds, marker, play,
                                      read_wav, tone_seconds)

PARTIAL = PAN_APPROVED[:9]        # keyed before things go wrong: holds seven-digit runs of the card
GOODBYE = "goodbye"


@pytest.fixture(autouse=True)
def _stay_in_the_dialplan():
    reason = stay_unavailable()
    if reason:
        pytest.skip(reason)


# -- helpers --------------------------------------------------------------------------------
def start_stay(agent, call):
    """Start the stay-mode payment from the agent's leg; (session, event mark before it)."""
    before = call.mark()
    reply = agent.start_payment(call.ab, "stay")
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["call_uuid"] == call.cb and session["mode"] == "stay"
    eavesdrop = call.wait(call.ab, "CHANNEL_EXECUTE", 15, after=before, Application="eavesdrop")
    assert eavesdrop.headers["Application-Data"] == call.cb
    return session, before


def bugs(call, leg):
    """The functions of the media bugs on ``leg`` (``audio`` is uuid_audio's mute)."""
    text = call.control.api("uuid_buglist %s" % leg)
    return [line.strip()[len("<function>"):-len("</function>")] for line in text.splitlines()
            if line.strip().startswith("<function>")]


def assert_caller_restored(call):
    assert "audio" not in bugs(call, call.cb)
    assert call.var(call.cb, "sensitive_dtmf") == "_undef_"
    assert call.var(call.cb, "send_silence_when_idle") == "_undef_"


def exchange_markers(control, call):
    """Each phone plays its marker; the windows in which the other should have heard it."""
    t0 = call.now(call.aa)
    play(control, call.ca, marker(CUSTOMER_MARK), 1.2)
    t1 = call.now(call.aa)
    play(control, call.aa, marker(AGENT_MARK), 1.2)
    t2 = call.now(call.ca)
    return (t0, t1), (t1 - 0.3, t2 + 0.3)


def assert_heard_each_other(call, windows):
    agent_window, customer_window = windows
    agent_hears, rate = read_wav(call.agent_ears)
    customer_hears, customer_rate = read_wav(call.customer_ears)
    heard = (tone_seconds(agent_hears, rate, CUSTOMER_MARK, *agent_window),
             tone_seconds(customer_hears, customer_rate, AGENT_MARK, *customer_window))
    assert heard[0] >= 0.5 and heard[1] >= 0.5, heard
    return heard


def agent_key_tones(call, start, end):
    """The keys the agent heard as tones between two points of AA's recording."""
    samples, rate = read_wav(call.agent_ears)
    return keys_between(dtmf_keys(samples, rate), start, end)


def entry_end(control, call):
    """The last field read of the caller's channel to finish."""
    return [m for m in control.events(call.ca, "CHANNEL_EXECUTE_COMPLETE")
            if is_field_read(m)][-1]


def bridged_before_payment(control, call):
    """A key of the caller reaches the agent as a DTMF event (the DTMF checks' negative control)."""
    control.press(call.ca, "5")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="5")


def after_restore(control, call, before):
    """The caller and the agent bridged again: same legs, keys and audio both ways."""
    call.wait_bridge("CHANNEL_BRIDGE", 20, after=before)
    assert call.events(call.ab, "CHANNEL_HANGUP") == [] and call.alive(call.ab)
    assert call.var(call.ab, "bridge_to") == call.cb
    assert_caller_restored(call)
    gevent.sleep(0.5)
    windows = exchange_markers(control, call)
    control.press(call.ca, "6")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="6")
    return windows


def key_card_stay(control, call, pan, nth=1):
    """Number and code as tones (the line detects them in band), expiry out of band."""
    wait_prompt(control, call.ca, "card number", nth)
    gevent.sleep(0.5)
    key_in_band(control, call.ca, pan + "#")
    wait_prompt(control, call.ca, "expiry date", nth)
    control.press(call.ca, EXPIRY)
    wait_prompt(control, call.ca, "security code", nth)
    gevent.sleep(0.5)
    key_in_band(control, call.ca, CODE)


# -- declined twice ---------------------------------------------------------------------------
def test_stay_two_declined_cards_bridge_the_caller_back(agent_service, control, live_switch,
                                                       tmp_path):
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))
    bridged_before_payment(control, call)
    session, before = start_stay(agent, call)

    entry_started = prompt_event(control, call.ca, "card number")
    key_card_stay(control, call, PAN_DECLINED)
    key_card_stay(control, call, PAN_DECLINED_2, nth=2)
    outcome = agent.ended.get(timeout=90)
    assert outcome.result == "transferred"
    final = agent.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "declined"
    assert [r["status"] for r in agent.service.store.list()] == ["declined", "declined"]
    assert agent.sandbox.charges == []
    ended = entry_end(control, call)

    windows = after_restore(control, call, before)
    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_DECLINED, PAN_DECLINED_2])
    assert call.dtmf(call.aa) == ["5", "6"]
    entry = (call.seconds(call.aa, entry_started), call.seconds(call.aa, ended))
    assert agent_key_tones(call, *entry) == ""
    assert_heard_each_other(call, windows)


# -- the agent cancels --------------------------------------------------------------------------
def test_stay_agent_cancels_mid_entry_nothing_charged(agent_service, control, live_switch,
                                                      tmp_path):
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))
    bridged_before_payment(control, call)
    session, before = start_stay(agent, call)

    entry_started = prompt_event(control, call.ca, "card number")
    gevent.sleep(0.5)
    key_in_band(control, call.ca, PARTIAL)
    cancelled_at = time.monotonic()
    reply = agent.request("POST", "/sessions/%s/cancel" % session["id"])
    assert reply.status_code in (200, 202), reply.text
    outcome = agent.ended.get(timeout=60)
    assert outcome.result == "transferred"
    final = agent.wait_state(session["id"], "ended")
    assert final["result"] is None and final["fields"]["number"]["masked"] is None
    assert agent.service.store.list() == [] and agent.sandbox.charges == []
    ended = entry_end(control, call)
    cut_after = call.seconds(call.aa, ended) - call.seconds(call.aa, entry_started)

    windows = after_restore(control, call, before)
    back_after = time.monotonic() - cancelled_at
    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    assert call.dtmf(call.aa) == ["5", "6"]
    entry = (call.seconds(call.aa, entry_started), call.seconds(call.aa, ended))
    assert agent_key_tones(call, *entry) == ""
    assert_heard_each_other(call, windows)
    print("cancel: field cut %.1fs after its prompt; bridged back within %.1fs"
          % (cut_after, back_after))
    # the cancel key ends the field as soon as the read takes keys: the read begins with the
    # amount announcement (about 4 s here; keys typed over it are kept, so it is not cut), then
    # its own prompt, which the queued key ends at once. A field left to its 5 s inter-digit
    # timeout after the keys (what uuid_break alone gave) ended 7.4 s after its prompt, about
    # 11.5 s after this read began.
    assert cut_after < 9.0


# -- the caller hangs up ------------------------------------------------------------------------
def test_stay_caller_hangs_up_mid_entry_every_leg_ends_normally(agent_service, control,
                                                                live_switch, tmp_path):
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))
    session, before = start_stay(agent, call)
    prompt_event(control, call.ca, "card number")
    gevent.sleep(0.5)
    key_in_band(control, call.ca, PARTIAL)
    control.hang_up(call.ca)

    # nobody else is hung up by the test: each leg goes on its own, as from a plain bridge
    completes = {name: call.wait(leg, "CHANNEL_HANGUP_COMPLETE", 30)
                 for name, leg in call.legs.items()}
    causes = {name: m.headers.get("Hangup-Cause") for name, m in completes.items()}
    assert causes == dict.fromkeys(call.legs, "NORMAL_CLEARING")
    outcome = agent.ended.get(timeout=30)
    assert outcome.result == "caller-hung-up"
    final = agent.wait_state(session["id"], "ended")
    assert final["result"] is None
    assert agent.service.store.list() == [] and agent.sandbox.charges == []
    with gevent.Timeout(10, AssertionError("the caller's socket was never let go of")):
        while agent.service.server.active_calls:
            gevent.sleep(0.1)
    for leg in (call.aa, call.ca):
        call.wait(leg, "RECORD_STOP", 10)
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    assert call.dtmf(call.aa) == []


# -- the agent hangs up -------------------------------------------------------------------------
def test_stay_agent_hangs_up_mid_entry_caller_gets_goodbye_restored(agent_service, control,
                                                                    live_switch, tmp_path):
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))
    # the caller's line is recorded, as a site's call recording would be
    line_recording = str(tmp_path / "customer_line.wav")
    assert call.control.api("uuid_setvar %s pay_recording_path %s"
                            % (call.cb, line_recording)).startswith("+OK")
    assert call.control.api("uuid_record %s start %s" % (call.cb, line_recording)).startswith("+OK")
    recording_started = call.wait(call.cb, "RECORD_START", 10)
    session, before = start_stay(agent, call)
    eavesdrop = call.wait(call.ab, "CHANNEL_EXECUTE", 5, after=before, Application="eavesdrop")
    entry_started = prompt_event(control, call.ca, "card number")
    gevent.sleep(0.5)
    key_in_band(control, call.ca, PARTIAL)
    agent_left = time.monotonic()
    control.hang_up(call.aa)
    agent_gone = call.wait(call.ab, "CHANNEL_HANGUP_COMPLETE", 10)
    assert agent_gone.headers.get("Hangup-Cause") == "NORMAL_CLEARING"

    # the flow notices and routes the caller without the agent: transfer_back's otherwise
    control.es.wait_for(
        lambda m: m.event_name == "CHANNEL_EXECUTE" and m.headers.get("Unique-ID") == call.cb
        and GOODBYE in prompt_text(m).lower(), 90, "the goodbye prompt")
    goodbye_after = time.monotonic() - agent_left
    assert_caller_restored(call)
    assert "session_record" in bugs(call, call.cb)
    outcome = agent.ended.get(timeout=30)
    assert (outcome.result, outcome.detail) == ("completed", "goodbye")
    # the field the agent left during ends as it would anyway (inter-digit timeout, 5 s),
    # and is not asked again
    assert goodbye_after < 15, goodbye_after
    final = agent.wait_state(session["id"], "ended")
    assert final["state"] == "ended"
    assert agent.service.store.list() == [] and agent.sandbox.charges == []
    completes = {name: call.wait(leg, "CHANNEL_HANGUP_COMPLETE", 30)
                 for name, leg in call.legs.items()}
    assert completes["CB"].headers.get("Hangup-Cause") == "NORMAL_CLEARING"
    call.wait(call.cb, "RECORD_STOP", 10)
    for leg in (call.aa, call.ca):
        call.wait(leg, "RECORD_STOP", 10)
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    assert call.dtmf(call.aa) == []

    # the agent heard no key; the line's recording took in nothing during entry and runs
    # again for the goodbye
    ended = entry_end(control, call)
    assert agent_key_tones(call, call.seconds(call.aa, entry_started),
                           call.seconds(call.aa, agent_gone)) == ""
    samples, rate = read_wav(line_recording)
    started = int(recording_started.headers["Event-Date-Timestamp"])

    def at(event):
        return (int(event.headers["Event-Date-Timestamp"]) - started) / 1e6
    found = dtmf_keys(samples, rate)
    assert keys_between(found, 0, len(samples) / rate) == ""
    # a paused recorder writes nothing: what follows the audio from before the pause (at the
    # latest the eavesdrop's start) was recorded after the resume, the goodbye
    assert loud_seconds(samples[int(at(eavesdrop) * rate):], rate) >= 0.5
    print("agent hangup: the entry ended %.1fs and the goodbye began %.1fs after it"
          % (at(ended) - at(agent_gone), goodbye_after))


# -- the orchestrator killed --------------------------------------------------------------------
@pytest.fixture
def agent_process(tmp_path, live_switch, control):
    """The orchestrator with the agent API as its own process (``orchestrator run``), to kill."""
    from orchestrator.payments.sandbox import SandboxGateway
    sandbox = SandboxGateway().start()
    http_port = free_port()
    config = write_agent_config(tmp_path, live_switch, sandbox, http_port=http_port)
    control.api("fsctl loglevel debug")
    control.es.command("event plain %s" % EXTRA_EVENTS)
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--config", str(config)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "orchestrator exited with %s" % process.returncode
            try:
                if requests.get("http://127.0.0.1:%d/readyz" % http_port, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "orchestrator not ready within 30s"
            gevent.sleep(0.2)
        yield Agent("http://127.0.0.1:%d/api/v1" % http_port, None, sandbox, None, None), process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        sandbox.stop()


def test_stay_orchestrator_killed_mid_entry_dialplan_gives_the_caller_back(
        agent_process, control, live_switch, tmp_path):
    agent, process = agent_process
    call = BridgedCall(control, str(tmp_path))
    bridged_before_payment(control, call)
    session, before = start_stay(agent, call)
    prompt_event(control, call.ca, "card number")
    control.press(call.ca, PARTIAL)
    gevent.sleep(len(PARTIAL) * 0.1 + 0.5)     # the keys take ~100 ms each to arrive
    assert "audio" in bugs(call, call.cb)      # muted while the field is keyed
    killed = call.mark()
    killed_at = time.monotonic()
    process.send_signal(signal.SIGKILL)        # no goodbye: the sockets die with it
    process.wait(timeout=10)

    intercept = call.wait(call.cb, "CHANNEL_EXECUTE", 15, after=killed, Application="intercept")
    assert intercept.headers["Application-Data"] == call.ab
    windows = after_restore(control, call, killed)
    restored_after = time.monotonic() - killed_at
    assert call.var(call.cb, "hangup_cause") == "_undef_"
    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    assert call.dtmf(call.aa) == ["5", "6"]
    heard = assert_heard_each_other(call, windows)
    assert agent.sandbox.charges == []
    print("orchestrator killed: bridged again and checked within %.1fs; markers heard %.2fs / %.2fs"
          % (restored_after, heard[0], heard[1]))
