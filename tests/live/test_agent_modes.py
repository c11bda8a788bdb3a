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
detector of test_card_recording: for in-band key tones, and for marker tones (500 Hz played by
the customer's phone, 1000 Hz by the agent's, 400 Hz as hold music). Keys pressed out of band
(``uuid_send_dtmf CA``) are DTMF events on the legs they reach. Before the payment the caller
presses 5 and after it 6, so the same checks that find no card digit also show that keys did
reach the agent while the two were bridged (the negative control). freeswitch.log is at DEBUG
and every leg hands its XML CDR to CHANNEL_HANGUP_COMPLETE (``hangup_complete_with_xml``); no
run of the card's digits may appear in either.
"""
import json
import math
import os
import time
import uuid as uuidlib

import gevent
import gevent.event
import pytest
import requests
import yaml

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from tests.live.fsprocess import REPO
from tests.live.test_card_payments import PAN_APPROVED, card_digits, key_card, wait_prompt
from tests.live.test_card_recording import (CODE, EXPIRY, dtmf_keys, key_in_band, loud_seconds,
                                            read_wav)

TOKEN = "live-agent-alice-token-0123456789"
EXTRA_EVENTS = ("CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PARK CHANNEL_UNPARK PLAYBACK_START "
                "PLAYBACK_STOP RECORD_START RECORD_STOP")
HOLD_TONE = "tone_stream://%(1000,0,400);loops=-1"
CUSTOMER_MARK, AGENT_MARK, HOLD_HZ = 500, 1000, 400
BLOCK = 0.02


# -- the call: two loopback pairs bridged on the switch side ---------------------------------
class BridgedCall:
    """CA/CB (customer phone / switch channel) and AA/AB (agent phone / switch channel)."""

    def __init__(self, control, recordings):
        self.control = control
        self.ca, self.cb = self._leg("customer")
        self.aa, self.ab = self._leg("agent")
        self.legs = {"CA": self.ca, "CB": self.cb, "AA": self.aa, "AB": self.ab}
        for leg in self.legs.values():
            assert control.api("uuid_setvar %s hangup_complete_with_xml true" % leg).startswith("+OK")
        # what the agent hears (AA's read side), from before the bridge to the end
        self.agent_ears = os.path.join(recordings, "agent_hears.wav")
        self.customer_ears = os.path.join(recordings, "customer_hears.wav")
        for leg, path in ((self.aa, self.agent_ears), (self.ca, self.customer_ears)):
            control.api("uuid_setvar %s RECORD_READ_ONLY true" % leg)
            assert control.api("uuid_record %s start %s" % (leg, path)).startswith("+OK")
        self.record_started = {leg: self.wait(leg, "RECORD_START") for leg in (self.aa, self.ca)}
        self.bridge_reply = control.api("uuid_bridge %s %s" % (self.cb, self.ab))
        self.wait_bridge("CHANNEL_BRIDGE")

    def _leg(self, who):
        a_leg = str(uuidlib.uuid4())
        reply = self.control.es.api(
            "originate {origination_uuid=%s,loopback_bowout=false,origination_caller_id_number=%s}"
            "loopback/m:^:answer^park/payments/inline &park()" % (a_leg, who), timeout=20)
        assert reply.startswith("+OK"), reply
        self.control.callers.append(a_leg)
        b_leg = self.control.api("uuid_getvar %s other_loopback_leg_uuid" % a_leg).strip()
        assert len(b_leg) == 36, b_leg
        return a_leg, b_leg

    def var(self, leg, name):
        return self.control.api("uuid_getvar %s %s" % (leg, name)).strip()

    def alive(self, leg):
        return self.control.api("uuid_exists %s" % leg).strip() == "true"

    def events(self, leg, name=None):
        return [m for m in self.control.es.events if m.headers.get("Unique-ID") == leg
                and (name is None or m.event_name == name)]

    def wait(self, leg, name, timeout=15, after=0, **headers):
        earlier = {id(m) for m in self.control.es.events[:after]}

        def wanted(m):
            return (m.event_name == name and m.headers.get("Unique-ID") == leg
                    and id(m) not in earlier
                    and all(m.headers.get(k.replace("_", "-")) == v for k, v in headers.items()))
        return self.control.es.wait_for(wanted, timeout, "%s on %s" % (name, leg))

    def wait_bridge(self, name, timeout=15, after=0):
        """CHANNEL_BRIDGE / CHANNEL_UNBRIDGE of CB with AB (fired once, on the originator)."""
        earlier = {id(m) for m in self.control.es.events[:after]}
        pair = {self.cb, self.ab}

        def wanted(m):
            return (m.event_name == name and id(m) not in earlier
                    and {m.headers.get("Bridge-A-Unique-ID"), m.headers.get("Bridge-B-Unique-ID")} == pair)
        return self.control.es.wait_for(wanted, timeout, "%s of CB with AB" % name)

    def mark(self):
        """A position in the event list: ``wait(..., after=mark)`` wants a later event."""
        return len(self.control.es.events)

    def dtmf(self, leg):
        return [m.headers.get("DTMF-Digit") for m in self.events(leg, "DTMF")]

    def seconds(self, leg, event):
        """Where ``event`` falls in the recording made on ``leg``, in seconds."""
        started = int(self.record_started[leg].headers["Event-Date-Timestamp"])
        return (int(event.headers["Event-Date-Timestamp"]) - started) / 1e6

    def now(self, leg):
        """Where the recording on ``leg`` is now (the switch runs on this machine's clock)."""
        return time.time() - int(self.record_started[leg].headers["Event-Date-Timestamp"]) / 1e6

    def hang_up_all(self):
        for leg in (self.ca, self.aa, self.cb, self.ab):
            if self.alive(leg):
                self.control.api("uuid_kill %s" % leg)
        completes = {name: self.wait(leg, "CHANNEL_HANGUP_COMPLETE", 30)
                     for name, leg in self.legs.items()}
        for leg in (self.aa, self.ca):
            self.wait(leg, "RECORD_STOP", 10)
        return completes


def tone_seconds(samples, rate, frequency, start, end):
    """Seconds between ``start`` and ``end`` in which ``frequency`` dominates the audio."""
    size = int(rate * BLOCK)
    coefficient = 2.0 * math.cos(2.0 * math.pi * frequency / rate)
    found = 0
    for first in range(max(0, int(start * rate)), min(len(samples), int(end * rate)) - size + 1, size):
        block = samples[first:first + size]
        energy = sum(x * x for x in block)
        if energy / size < 100.0 ** 2:
            continue
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coefficient * s1 - s2, s1
        power = 2.0 * (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / size
        if power > 0.5 * energy:
            found += 1
    return found * BLOCK


def prompt_event(control, a_leg, words, nth=1):
    """The CHANNEL_EXECUTE of the nth prompt with ``words``, once it has come."""
    wait_prompt(control, a_leg, words, nth)
    return [m for m in control.events(a_leg, "CHANNEL_EXECUTE")
            if m.headers.get("Application") == "play_and_get_digits"
            and words in m.headers.get("Application-Data", "")][nth - 1]


def keys_between(found, start, end):
    return "".join(key for at, key in found if start <= at < end)


def assert_no_card_anywhere(call, completes, live_switch, pans):
    runs = set().union(*(card_digits(p) for p in pans))
    for name, complete in completes.items():
        assert complete.headers.get("CDR-Attached") == "xml" and "<cdr" in complete.body, name
        text = complete.body + "\n".join("%s: %s" % kv for kv in complete.headers.items())
        assert [r for r in runs if r in text] == [], name
    for name, leg in call.legs.items():
        keyed = "".join(call.dtmf(leg))
        assert [r for r in runs if r in keyed] == [], (name, keyed)
    if live_switch.process is not None:
        log = live_switch.process.log_text()
        assert "[DEBUG]" in log
        assert [r for r in runs if r in log] == []
        return log
    return None


# -- the Service with the agent API on the live switch ---------------------------------------
def write_agent_config(tmp_path, live_switch, sandbox, http_port=0, **agent_api):
    """The service config of these tests: the live switch as node, the sandbox, agent alice."""
    host, port = live_switch.socket_address
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": host, "port": port}, "linger_seconds": 2,
        "http": {"enabled": True, "host": "127.0.0.1", "port": http_port},
        "flows": {"directory": os.path.join(REPO, "flows"), "default": "card_payment"},
        "store": {"path": str(tmp_path / "payments.sqlite")},
        "tenants": ["acme"],
        "nodes": [{"name": "live", "host": live_switch.host, "port": live_switch.port,
                   "password": live_switch.password}],
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url}],
        "agent_api": dict({"tokens": [{"token": TOKEN, "tenant": "acme", "agent": "alice"}],
                           "agents": {"alice": {"extension": "agent", "context": "default"}}},
                          **agent_api)}))
    return config


@pytest.fixture
def agent_service(request, tmp_path, live_switch, control):
    hold_music = getattr(request, "param", HOLD_TONE)
    sandbox = SandboxGateway().start()
    config = write_agent_config(tmp_path, live_switch, sandbox, hold="music",
                                hold_music=hold_music)
    ended = gevent.event.AsyncResult()
    service = Service(load_config(str(config)),
                      on_call_end=lambda channel, flow, outcome: ended.set(outcome))
    handle = service.handle_call
    line = {"replies": [], "in_band": False}

    def watched_line(channel):
        """The flow's own switch commands and their replies are kept (``uuid_bridge``'s text);
        with ``in_band``, the caller's leg detects tones as keys, as a line keying in band."""
        api = channel.api

        def api_kept(command, *args, **kwargs):
            reply = api(command, *args, **kwargs)
            line["replies"].append((command.split(" ", 1)[0], reply))
            return reply
        channel.api = api_kept
        if line["in_band"]:
            line["start_dtmf"] = channel.execute("start_dtmf").get("Application-Response", "")
        handle(channel)

    service.server._handler = watched_line
    control.api("fsctl loglevel debug")
    control.es.command("event plain %s" % EXTRA_EVENTS)
    service.start()
    assert service.pool.nodes["live"].wait_connected(10)
    base = "http://127.0.0.1:%d/api/v1" % service.http_address[1]
    yield Agent(base, service, sandbox, ended, line)
    service.stop(grace=2)
    sandbox.stop()
    control.api("fsctl loglevel info")


class Agent:
    def __init__(self, base, service, sandbox, ended, line):
        self.base, self.service, self.sandbox, self.ended, self.line = base, service, sandbox, ended, line

    def request(self, method, path, body=None):
        return requests.request(method, self.base + path, timeout=10,
                                headers={"Authorization": "Bearer " + TOKEN},
                                data=None if body is None else json.dumps(body))

    def start_payment(self, agent_uuid, mode):
        return self.request("POST", "/sessions", {"agent_uuid": agent_uuid, "amount": 1250,
                                                  "currency": "EUR", "reference": "LIVE-AGENT-1",
                                                  "mode": mode})

    def wait_state(self, session_id, state, timeout=60):
        with gevent.Timeout(timeout, AssertionError("session never reached %s" % state)):
            while True:
                current = self.request("GET", "/sessions/" + session_id).json()
                if current["state"] == state:
                    return current
                gevent.sleep(0.1)


def marker(frequency, ms=800):
    return "tone_stream://%%(%d,0,%d)" % (ms, frequency)


def play(control, leg, path, seconds):
    reply = control.api("uuid_broadcast %s %s aleg" % (leg, path))
    assert reply.startswith("+OK"), reply
    gevent.sleep(seconds)


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
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "1111"
    assert final["fields"]["number"]["masked"] == "visa 411111******1111"
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
STAY_EXTENSIONS = ("pay_agent", "agent_listen")
PROMPT_HEARD = 1.5


def stay_unavailable():
    """Why stay mode cannot run here yet, or None."""
    with open(os.path.join(REPO, "freeswitch_conf", "dialplan", "payments.xml"), encoding="utf-8") as f:
        dialplan = f.read()
    missing = [name for name in STAY_EXTENSIONS if '"^%s$"' % name not in dialplan]
    if missing:
        return ("stay mode not in the shipped dialplan yet: freeswitch_conf/dialplan/payments.xml "
                "has no %s extension (docs/stay-on-line.md)" % " / ".join(missing))
    return None


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
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "1111"
    [row] = agent.service.store.list()
    assert row["status"] == "approved" and row["card"] == "411111******1111"
    assert outcome.result == "transferred"
    entries = [m for m in control.events(call.ca, "CHANNEL_EXECUTE_COMPLETE")
               if m.headers.get("Application") == "play_and_get_digits"]
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
               if m.headers.get("Application") == "play_and_get_digits"]
    assert len(prompts) == 3
    for prompt in prompts:
        start = call.seconds(call.aa, prompt)
        assert loud_seconds(agent_hears[int(start * rate):int((start + PROMPT_HEARD) * rate)],
                            rate) >= 0.7, prompt.headers.get("Application-Data")
    # after: both ways again, and the in-band 6 is heard
    assert tone_seconds(agent_hears, rate, CUSTOMER_MARK, t4, t5) >= 0.5
    assert tone_seconds(customer_hears, customer_rate, AGENT_MARK, t5 - 0.3, t6 + 0.3) >= 0.5
    assert "6" in keys_between(found, t6, t7 + 0.5)
