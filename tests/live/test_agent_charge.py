"""The agent-started charge (``"charge": "agent"``) on a real FreeSWITCH, through the agent API.

The call and the Service are those of test_agent_modes (tests/support/live/agent_call.py and the
``agent_service`` fixture: two loopback pairs, CA/CB the customer's phone and switch channel,
AA/AB the agent's, ``uuid_bridge CB AB``; the shipped card_payment flow; the sandbox gateway).
The agent starts a transfer-mode payment with ``charge: agent``; the caller keys the card with
``uuid_send_dtmf``. Then, on the real switch:

* the session is ``awaiting_charge`` and the sandbox has no charge: the flow holds the card;
* the caller is held: the secure-entry script plays ``payment_awaiting_agent`` (then silence,
  ``silence_stream://2000`` plays) and the call stays up;
* two ``POST .../charge`` at once (a double click) answer the same result, one charge at the
  sandbox; the wait ends through ``uuid_break`` of the hold sound, inside the secure script;
* the caller hears the result and is bridged back to the same agent leg.

The same in stay mode (the agent's leg eavesdrops on the caller's throughout; the number and
code keyed in band, the agent hears no key tone). A decline: the sandbox's declining card, the agent's ``recapture``, a second card, approved.
The canary fixture (extra clients on ``event plain ALL`` / ``event json ALL`` and the log
stream, the log at DEBUG, the XML CDR files) and ``assert_no_card_anywhere`` find no run of
seven card digits anywhere.
"""
import time

import gevent
import pytest

from tests.support.live.agent_call import (BridgedCall, assert_no_card_anywhere, prompt_event,
                                           stay_unavailable)
from tests.support.live.card_entry import (CODE, EXPIRY, PAN_APPROVED, PAN_DECLINED, is_field_read,
                                           key_card, prompt_text, wait_prompt)
from tests.support.live.tones import dtmf_keys, key_in_band, keys_between, read_wav

# what the caller hears, as the catalog's texts (the lab has no recorded prompts: the flow
# speaks them through the secure-entry script's ``play``)
HOLDING = "agent completes the payment"           # payment_awaiting_agent
APPROVED = "payment has been approved"            # payment_approved
DECLINED = "payment was declined"                 # payment_declined
ANOTHER_CARD = "try another card"                 # try_another_card
HELD_FOR = 6.0          # seconds the card waits before the agent charges: past the holding
                        # prompt (about 3 s spoken), into the 2 s plays of silence


def start_agent_charge(agent, call, mode="transfer"):
    """The agent's start with ``charge: agent``, from the agent's leg; (session, event mark)."""
    before = call.mark()
    reply = agent.request("POST", "/sessions", {
        "agent_uuid": call.ab, "amount": 1250, "currency": "EUR", "reference": "LIVE-CHARGE-1",
        "mode": mode, "charge": "agent"})
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["call_uuid"] == call.cb and session["charge"] == "agent"
    return session, before


def plays(control, call, words, after=0):
    """The CHANNEL_EXECUTEs on the caller's payment channel (CB) that play ``words``."""
    earlier = {id(m) for m in control.es.events[:after]}
    return [m for m in control.events(call.ca, "CHANNEL_EXECUTE")
            if id(m) not in earlier and m.headers.get("Unique-ID") == call.cb
            and words in prompt_text(m)]


def wait_play(control, call, words, timeout=30, after=0):
    try:
        control.es.wait_for(lambda m: plays(control, call, words, after), timeout,
                            "a play of %s on the caller's channel" % words)
    except TimeoutError as error:
        played = [(m.headers.get("Application"), prompt_text(m)[:200])
                  for m in control.events(call.ca, "CHANNEL_EXECUTE")
                  if m.headers.get("Unique-ID") == call.cb]
        raise AssertionError("%s; played on CB: %s" % (error, played)) from None
    return plays(control, call, words, after)[0]


def assert_held_uncharged(agent, control, call, session, pan_last4):
    """The card is complete and waits for the agent: the caller hears the holding prompt, the
    call is up, nothing went to the gateway (in HELD_FOR seconds)."""
    awaiting = agent.wait_state(session["id"], "awaiting_charge", timeout=60)
    assert awaiting["fields"]["number"]["masked"].endswith(pan_last4)
    holding = wait_play(control, call, HOLDING, 15)
    assert holding.headers.get("Application") == "lua"
    assert " play" in holding.headers.get("Application-Data", "")
    gevent.sleep(HELD_FOR)
    assert agent.sandbox.charges == [] and agent.service.store.list() == []
    now = agent.request("GET", "/sessions/" + session["id"]).json()
    assert now["state"] == "awaiting_charge"
    assert call.alive(call.cb) and call.alive(call.ca)
    assert call.events(call.cb, "CHANNEL_HANGUP") == []
    return awaiting


def double_click(agent, session, attempt):
    """Two charge requests at once; both answers (the second of a double click included)."""
    path = "/sessions/%s/charge" % session["id"]
    clicked, clicked_wall = time.monotonic(), time.time()
    clicks = [gevent.spawn(agent.request, "POST", path, {"attempt": attempt}) for _ in range(2)]
    gevent.joinall(clicks, timeout=70)
    replies = [c.value for c in clicks]
    assert all(r is not None for r in replies), [c.exception for c in clicks]
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    return [r.json() for r in replies], time.monotonic() - clicked, clicked_wall


def hold_cut_short(control, call, clicked_at, clicked_wall):
    """The hold sound playing when the agent clicked (``clicked_at``, an event mark;
    ``clicked_wall``, the time): (how long it lasted, how long after the click it ended). One
    play of silence is the step's tick, 2 s; cut by the API's ``uuid_break``, it ends at once
    (the switch runs on this machine's clock)."""
    holds = [m for m in control.es.events[:clicked_at]
             if m.event_name == "CHANNEL_EXECUTE" and m.headers.get("Unique-ID") == call.cb
             and "silence_stream" in prompt_text(m)]
    assert holds, "no hold sound had started when the agent charged"
    playing = holds[-1].headers["Application-UUID"]
    done = control.es.wait_for(
        lambda m: m.event_name == "CHANNEL_EXECUTE_COMPLETE"
        and m.headers.get("Application-UUID") == playing, 10, "the end of the hold sound")
    ended = int(done.headers["Event-Date-Timestamp"]) / 1e6
    return ended - int(holds[-1].headers["Event-Date-Timestamp"]) / 1e6, ended - clicked_wall


def back_to_the_agent(agent, control, call, before):
    """The flow ends transferring the caller to the very agent leg, which never went away."""
    outcome = agent.ended.get(timeout=60)
    assert outcome.result == "transferred" and outcome.to_agent_leg
    call.wait_bridge("CHANNEL_BRIDGE", 20, after=before)
    assert call.events(call.ab, "CHANNEL_HANGUP") == [] and call.alive(call.ab)
    assert call.var(call.ab, "bridge_to") == call.cb
    control.press(call.ca, "6")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="6")


def test_transfer_mode_agent_charges_once_after_the_card_is_held(agent_service, control,
                                                                  live_switch, tmp_path):
    agent = agent_service
    call = BridgedCall(control, str(tmp_path))
    control.press(call.ca, "5")                    # bridged: keys reach the agent (the control)
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="5")
    session, before = start_agent_charge(agent, call)
    call.wait_bridge("CHANNEL_UNBRIDGE", 10, after=before)

    prompt_event(control, call.ca, "card number")
    key_card(control, call.ca, PAN_APPROVED, EXPIRY, CODE)
    awaiting = assert_held_uncharged(agent, control, call, session, "2387")
    assert awaiting["amount_text"] == "12.50 EUR" and awaiting["charge_attempt"] == 1
    held_at = call.mark()

    answers, took, clicked_wall = double_click(agent, session, awaiting["charge_attempt"])
    # the wait ended through uuid_break of the secure script's play: the hold sound then
    # playing stopped at once, not at the end of its 2 s (left to itself it would end anywhere
    # in the 2 s after the click; a click between two plays is woken again 0.5 s later)
    hold_lasted, ended_after = hold_cut_short(control, call, held_at, clicked_wall)
    assert ended_after < 0.6, (hold_lasted, ended_after)
    results = [a["result"] for a in answers]
    assert results[0] == results[1], results
    assert results[0]["status"] == "approved" and results[0]["auth_code"]
    assert results[0]["last4"] == "2387"
    assert len(agent.sandbox.charges) == 1
    [row] = agent.service.store.list()
    assert row["status"] == "approved"
    # the caller hears the result after the wait ends (uuid_break inside the secure script)
    wait_play(control, call, APPROVED, 20, after=held_at)
    back_to_the_agent(agent, control, call, before)
    final = agent.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    assert len(agent.sandbox.charges) == 1
    assert call.dtmf(call.aa) == ["5", "6"]
    print("agent charge: both answers %.2fs after the double click; the hold sound playing "
          "then ended %.2fs after the click, %.2fs into its 2 s" % (took, ended_after, hold_lasted))

    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])


def test_transfer_mode_declined_then_another_card_then_approved(agent_service, control,
                                                               live_switch, tmp_path):
    agent = agent_service
    call = BridgedCall(control, str(tmp_path))
    session, before = start_agent_charge(agent, call)
    call.wait_bridge("CHANNEL_UNBRIDGE", 10, after=before)

    key_card(control, call.ca, PAN_DECLINED, EXPIRY, CODE)
    awaiting = assert_held_uncharged(agent, control, call, session, "9995")
    held_at = call.mark()
    declined = agent.request("POST", "/sessions/%s/charge" % session["id"],
                             {"attempt": awaiting["charge_attempt"]})
    assert declined.status_code == 200, declined.text
    shown = declined.json()
    assert shown["state"] == "declined" and shown["result"]["status"] == "declined"
    assert shown["result"]["decline_reason"]
    assert agent.sandbox.charges == []
    wait_play(control, call, DECLINED, 20, after=held_at)

    # the flow waits for the agent's decision: no second card by itself, the caller held
    with gevent.Timeout(30, AssertionError("the flow never waited for the agent's decision")):
        while not agent.request("GET", "/sessions/" + session["id"]).json()["awaiting_decision"]:
            gevent.sleep(0.1)
    gevent.sleep(HELD_FOR)
    assert len(plays(control, call, "card number")) == 1
    assert call.alive(call.cb)
    decided_at = call.mark()
    reply = agent.request("POST", "/sessions/%s/recapture" % session["id"], {})
    assert reply.status_code == 200, reply.text
    wait_play(control, call, ANOTHER_CARD, 20, after=decided_at)

    key_card(control, call.ca, PAN_APPROVED, EXPIRY, CODE, nth=2)
    second = agent.wait_state(session["id"], "awaiting_charge", timeout=60)
    assert second["charge_attempt"] == 3          # card 1, the decision, card 2
    assert agent.sandbox.charges == []
    stale = agent.request("POST", "/sessions/%s/charge" % session["id"], {"attempt": 1})
    assert stale.status_code == 409 and stale.json()["error"] == "stale_attempt", stale.text
    approved = agent.request("POST", "/sessions/%s/charge" % session["id"], {"attempt": 3})
    assert approved.status_code == 200, approved.text
    assert approved.json()["result"]["status"] == "approved"
    assert approved.json()["result"]["last4"] == "2387"
    assert len(agent.sandbox.charges) == 1
    assert sorted(r["status"] for r in agent.service.store.list()) == ["approved", "declined"]
    back_to_the_agent(agent, control, call, before)

    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED, PAN_DECLINED])


def key_card_stay(control, call, pan):
    """Stay mode: the number and the code as tones (the line detects them in band), the expiry
    out of band, as test_agent_stay_paths keys them."""
    wait_prompt(control, call.ca, "card number")
    gevent.sleep(0.5)
    key_in_band(control, call.ca, pan + "#")
    wait_prompt(control, call.ca, "expiry date")
    control.press(call.ca, EXPIRY)
    wait_prompt(control, call.ca, "security code")
    gevent.sleep(0.5)
    key_in_band(control, call.ca, CODE)


def test_stay_mode_agent_charges_once_while_listening(agent_service, control, live_switch,
                                                      tmp_path):
    reason = stay_unavailable()
    if reason:
        pytest.skip(reason)
    agent = agent_service
    agent.line["in_band"] = True
    call = BridgedCall(control, str(tmp_path))
    control.press(call.ca, "5")
    call.wait(call.aa, "DTMF", 10, DTMF_Digit="5")
    session, before = start_agent_charge(agent, call, mode="stay")
    assert session["mode"] == "stay"
    eavesdrop = call.wait(call.ab, "CHANNEL_EXECUTE", 15, after=before, Application="eavesdrop")
    assert eavesdrop.headers["Application-Data"] == call.cb

    entry_started = prompt_event(control, call.ca, "card number")
    key_card_stay(control, call, PAN_APPROVED)
    awaiting = assert_held_uncharged(agent, control, call, session, "2387")
    entry_ended = [m for m in control.events(call.ca, "CHANNEL_EXECUTE_COMPLETE")
                   if is_field_read(m)][-1]
    assert call.alive(call.ab) and call.events(call.ab, "CHANNEL_HANGUP") == []
    held_at = call.mark()
    answers, took, clicked_wall = double_click(agent, session, awaiting["charge_attempt"])
    hold_lasted, ended_after = hold_cut_short(control, call, held_at, clicked_wall)
    assert ended_after < 0.6, (hold_lasted, ended_after)
    results = [a["result"] for a in answers]
    assert results[0] == results[1] and results[0]["status"] == "approved", results
    assert len(agent.sandbox.charges) == 1
    [row] = agent.service.store.list()
    assert row["status"] == "approved"
    wait_play(control, call, APPROVED, 20, after=held_at)
    back_to_the_agent(agent, control, call, before)
    assert len(agent.sandbox.charges) == 1
    print("agent charge, stay: both answers %.2fs after the double click; the hold sound "
          "ended %.2fs after it" % (took, ended_after))

    completes = call.hang_up_all()
    assert_no_card_anywhere(call, completes, live_switch, [PAN_APPROVED])
    assert call.dtmf(call.aa) in (["5", "6"], ["5", "6", "6"])
    samples, rate = read_wav(call.agent_ears)
    entry = (call.seconds(call.aa, entry_started), call.seconds(call.aa, entry_ended))
    assert keys_between(dtmf_keys(samples, rate), *entry) == ""
