"""Agent-assisted payments on a real FreeSWITCH, started through the agent API of the Service.

The call is four loopback channels, as an agent's answered call would be on a switch:

* CA, the customer's phone (an a-leg, parked), and CB, the customer's channel on the switch;
* AA, the agent's phone (an a-leg, parked), and AB, the agent's channel on the switch;

both pairs are originated to the inline dialplan ``answer, park``, and the switch side of each is
joined with ``uuid_bridge CB AB``. The Service runs with the agent API and one inbound node on the
live switch; its outbound listener is where the shipped ``payments`` context (``pay``) connects.
The agent starts the payment with ``agent_uuid = AB``: the API finds the caller from the agent's
channel, and the shipped card_payment flow takes the card and bridges the caller back.

What the agent hears is recorded on AA (``RECORD_READ_ONLY``) and searched with the Goertzel
detector of tests/support/live/tones.py: for in-band key tones, and for marker tones (500 Hz played by
the customer's phone, 1000 Hz by the agent's, 400 Hz as hold music). Keys pressed out of band
(``uuid_send_dtmf CA``) are DTMF events on the legs they reach. Before the payment the caller
presses 5 and after it 6, so the same checks that find no card digit also show that keys did
reach the agent while the two were bridged (the negative control). freeswitch.log is at DEBUG
and every leg hands its XML CDR to CHANNEL_HANGUP_COMPLETE (``hangup_complete_with_xml``); no
run of the card's digits may appear in either.
"""
import gevent
import pytest

from tests.support.live.agent_call import (AGENT_MARK, CUSTOMER_MARK, HOLD_HZ, HOLD_TONE, BridgedCall,
                                           assert_no_card_anywhere, prompt_event, stay_unavailable)
from tests.support.live.card_entry import CODE, EXPIRY, PAN_APPROVED, is_field_read, key_card, wait_prompt
from tests.support.live.tones import (dtmf_keys, key_in_band, keys_between, loud_seconds, marker, play,
                                      read_wav, tone_seconds)


# -- transfer mode ----------------------------------------------------------------------------
@pytest.mark.parametrize("agent_service", [HOLD_TONE, "local_stream://moh"], indirect=True,
                         ids=["hold-tone", "shipped-moh-absent"])
def test_transfer_mode_pays_and_gives_the_caller_back_to_the_same_agent_leg(
        agent_service, control, live_switch, tmp_path):
    agent = agent_service
    call = BridgedCall(control, str(tmp_path))
    assert call.bridge_reply.strip() == "+OK %s" % call.ab
    bridged = {"bridge_to": call.var(call.ab, "bridge_to"),
               "bridge_uuid": call.var(call.ab, "bridge_uuid"),
               "signal_bond": call.var(call.ab, "signal_bond")}
    assert bridged == {"bridge_to": call.cb, "bridge_uuid": call.cb, "signal_bond": call.cb}

    # bridged: a key of the caller reaches the agent (the negative control of the DTMF checks)
    control.press(call.ca, "5")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="5")

    before = call.mark()
    reply = agent.start_payment(call.ab, "transfer")
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["call_uuid"] == call.cb and session["state"] == "created"

    # the caller leaves the bridge; the agent's leg is parked, not hung up, and gets the music
    call.wait_bridge("CHANNEL_UNBRIDGE", 10, after=before)
    call.wait(call.ab, "CHANNEL_PARK", 10, after=before)
    hold = call.wait(call.ab, "CHANNEL_EXECUTE", 10, after=before, Application="playback")
    assert hold.headers["Application-Data"] == agent.service.agent.settings["hold_music"]
    unbridged = {"bridge_to": call.var(call.ab, "bridge_to"),
                 "bridge_uuid": call.var(call.ab, "bridge_uuid"),
                 "signal_bond": call.var(call.ab, "signal_bond")}
    # measured on 1.10.12: bridge_to and signal_bond go with the bridge, bridge_uuid stays
    assert unbridged == {"bridge_to": "_undef_", "bridge_uuid": call.cb, "signal_bond": "_undef_"}
    assert call.var(call.ab, "park_after_bridge") == "true"
    # a second payment from the same agent's leg now finds no caller (bridge_to is gone)
    again = agent.start_payment(call.ab, "transfer")
    assert again.status_code == 409 and again.json()["error"] == "not_bridged", again.text

    entry_started = prompt_event(control, call.ca, "card number")
    key_card(control, call.ca, PAN_APPROVED, EXPIRY, CODE)
    outcome = agent.ended.get(timeout=60)
    assert outcome.result == "transferred" and outcome.to_agent_leg
    final = agent.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "2387"
    assert final["fields"]["number"]["masked"] == "visa 495247******2387"
    [row] = agent.service.store.list()
    assert row["status"] == "approved" and len(agent.sandbox.charges) == 1

    # bridged back to the very same agent leg, which never went away
    call.wait_bridge("CHANNEL_BRIDGE", 15, after=before)
    bridge_replies = [r for c, r in agent.line["replies"] if c == "uuid_bridge"]
    assert [r.strip() for r in bridge_replies] == ["+OK %s" % call.ab]
    assert call.events(call.ab, "CHANNEL_HANGUP") == [] and call.alive(call.ab)
    assert call.var(call.ab, "bridge_to") == call.cb
    with gevent.Timeout(5, AssertionError("park_after_bridge left set on the agent's leg")):
        while call.var(call.ab, "park_after_bridge") != "_undef_":
            gevent.sleep(0.1)
    control.press(call.ca, "6")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="6")
    assert call.dtmf(call.aa) == ["5", "6"]
    restored_at = call.now(call.aa)
    play(control, call.ca, marker(CUSTOMER_MARK), 1.2)
    heard_after = (restored_at, call.now(call.aa))

    # the caller hangs up: the agent's leg follows, as it would from a plain bridge
    control.hang_up(call.ca)
    agent_gone = call.wait(call.ab, "CHANNEL_HANGUP", 10)
    assert agent_gone.headers.get("Hangup-Cause") == "NORMAL_CLEARING"
    completes = call.hang_up_all()
    log = assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])

    # what the agent heard: the hold music while the caller paid, the caller again afterwards
    samples, rate = read_wav(call.agent_ears)
    entry = (call.seconds(call.aa, entry_started), restored_at)
    found = dtmf_keys(samples, rate)
    assert keys_between(found, *entry) == ""
    assert tone_seconds(samples, rate, CUSTOMER_MARK, *heard_after) >= 0.5
    if agent.service.agent.settings["hold_music"] == HOLD_TONE:
        assert tone_seconds(samples, rate, HOLD_HZ, *entry) >= 0.8 * (entry[1] - entry[0]) - 1.0
    else:
        # no local_stream module in freeswitch_conf: the broadcast is accepted, the playback
        # fails at once on the agent's leg, which stays parked, in silence
        assert tone_seconds(samples, rate, HOLD_HZ, *entry) == 0
        assert loud_seconds(samples[int(entry[0] * rate):int(entry[1] * rate)], rate) < 0.5
        if log is not None:
            assert "Invalid file format [local_stream] for [moh]" in log


# -- stay on the line -------------------------------------------------------------------------
PROMPT_HEARD = 1.5


def test_stay_mode_the_agent_hears_the_caller_but_no_card_key(agent_service, control,
                                                             live_switch, tmp_path):
    reason = stay_unavailable()
    if reason:
        pytest.skip(reason)
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))

    # bridged, before the payment: each hears the other, and a key pressed in band and out of
    # band reaches the agent (the detector's negative control)
    t0 = call.now(call.aa)
    play(control, call.ca, marker(CUSTOMER_MARK), 1.2)
    t1 = call.now(call.aa)
    play(control, call.aa, marker(AGENT_MARK), 1.2)
    t2 = call.now(call.ca)
    key_in_band(control, call.ca, "5")
    control.press(call.ca, "5")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="5")
    t3 = call.now(call.aa)

    before = call.mark()
    reply = agent.start_payment(call.ab, "stay")
    if reply.status_code == 409 and reply.json().get("error") == "mode_unavailable":
        pytest.skip("the agent API refuses mode stay: %s" % reply.json().get("message"))
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["call_uuid"] == call.cb and session["mode"] == "stay"
    eavesdrop = call.wait(call.ab, "CHANNEL_EXECUTE", 15, after=before, Application="eavesdrop")
    assert eavesdrop.headers["Application-Data"] == call.cb

    # card entry: the number and the code as tones, the expiry out of band; each after
    # PROMPT_HEARD seconds of its prompt (the first key cuts the prompt short)
    entry_started = prompt_event(control, call.ca, "card number")
    gevent.sleep(PROMPT_HEARD)
    key_in_band(control, call.ca, PAN_APPROVED + "#")
    wait_prompt(control, call.ca, "expiry date")
    gevent.sleep(PROMPT_HEARD)
    control.press(call.ca, EXPIRY)
    wait_prompt(control, call.ca, "security code")
    gevent.sleep(PROMPT_HEARD)
    key_in_band(control, call.ca, CODE)
    outcome = agent.ended.get(timeout=60)
    final = agent.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "2387"
    [row] = agent.service.store.list()
    assert row["status"] == "approved" and row["card"] == "495247******2387"
    assert outcome.result == "transferred"
    entries = [m for m in control.events(call.ca, "CHANNEL_EXECUTE_COMPLETE")
               if is_field_read(m)]
    entry_ended = entries[-1]

    # the same legs bridged again, the agent's leg up throughout
    call.wait_bridge("CHANNEL_BRIDGE", 20, after=before)
    assert call.events(call.ab, "CHANNEL_HANGUP") == [] and call.alive(call.ab)
    gevent.sleep(1.0)
    t4 = call.now(call.aa)
    play(control, call.ca, marker(CUSTOMER_MARK), 1.2)
    t5 = call.now(call.aa)
    play(control, call.aa, marker(AGENT_MARK), 1.2)
    t6 = call.now(call.ca)
    control.press(call.ca, "6")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="6")
    key_in_band(control, call.ca, "6")
    t7 = call.now(call.aa)
    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    # the 5 out of band before; the 6 out of band after, and again as the in-band 6 that the
    # line's start_dtmf (still running on CB) turns into a DTMF event the bridge forwards
    assert call.dtmf(call.aa) in (["5", "6"], ["5", "6", "6"])

    agent_hears, rate = read_wav(call.agent_ears)
    customer_hears, customer_rate = read_wav(call.customer_ears)
    found = dtmf_keys(agent_hears, rate)
    entry = (call.seconds(call.aa, entry_started), call.seconds(call.aa, entry_ended))
    # before: both ways, and the detector hears the caller's in-band 5
    assert tone_seconds(agent_hears, rate, CUSTOMER_MARK, t0, t1) >= 0.5
    assert tone_seconds(customer_hears, customer_rate, AGENT_MARK, t1 - 0.3, t2 + 0.3) >= 0.5
    assert "5" in keys_between(found, t2 - 0.3, t3)
    # during entry: the prompts, but no key tone at all
    assert keys_between(found, *entry) == ""
    prompts = [m for m in control.events(call.ca, "CHANNEL_EXECUTE")
               if is_field_read(m)]
    assert len(prompts) == 3
    for prompt in prompts:
        start = call.seconds(call.aa, prompt)
        assert loud_seconds(agent_hears[int(start * rate):int((start + PROMPT_HEARD) * rate)],
                            rate) >= 0.7, prompt.headers.get("Application-Data")
    # after: both ways again, and the in-band 6 is heard
    assert tone_seconds(agent_hears, rate, CUSTOMER_MARK, t4, t5) >= 0.5
    assert tone_seconds(customer_hears, customer_rate, AGENT_MARK, t5 - 0.3, t6 + 0.3) >= 0.5
    assert "6" in keys_between(found, t6, t7 + 0.5)
