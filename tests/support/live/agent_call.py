"""An agent's answered call on a real switch, and the Service with the agent API for it.

The call is four loopback channels (``BridgedCall``): CA, the customer's phone (an a-leg, parked),
and CB, the customer's channel on the switch; AA, the agent's phone, and AB, the agent's channel;
the switch sides are joined with ``uuid_bridge CB AB``, and what each phone hears is recorded.
``write_agent_config`` is the Service's config (the live switch as node, the sandbox gateway,
agent alice); ``Agent`` drives the agent API as alice. The ``agent_service`` fixture of
tests/live/conftest.py runs that Service in the test's process.
"""
import json
import os
import time
import uuid as uuidlib

import gevent
import requests
import yaml

from tests.support.live.card_entry import card_digits, is_field_read, wait_prompt
from tests.support.live.fsprocess import REPO

TOKEN = "live-agent-alice-token-0123456789"
EXTRA_EVENTS = ("CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PARK CHANNEL_UNPARK PLAYBACK_START "
                "PLAYBACK_STOP RECORD_START RECORD_STOP")
HOLD_TONE = "tone_stream://%(1000,0,400);loops=-1"
CUSTOMER_MARK, AGENT_MARK, HOLD_HZ = 500, 1000, 400


class BridgedCall:
    """CA/CB (customer phone / switch channel) and AA/AB (agent phone / switch channel)."""

    def __init__(self, control, recordings):
        self.control = control
        self.ca, self.cb = self._leg("customer")
        self.aa, self.ab = self._leg("agent")
        self.legs = {"CA": self.ca, "CB": self.cb, "AA": self.aa, "AB": self.ab}
        for leg in self.legs.values():
            assert control.api("uuid_setvar %s hangup_complete_with_xml true" % leg).startswith("+OK")
        # whose call it is, as a site's switch says it (README, "Whose call it is"): the
        # dialplan's exported pay_tenant on both legs, the directory's pay_agent_id on the agent's
        for leg, name, value in ((self.cb, "pay_tenant", "acme"), (self.ab, "pay_tenant", "acme"),
                                 (self.ab, "pay_agent_id", "alice")):
            assert control.api("uuid_setvar %s %s %s" % (leg, name, value)).startswith("+OK")
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


def prompt_event(control, a_leg, words, nth=1):
    """The CHANNEL_EXECUTE of the nth prompt with ``words``, once it has come."""
    wait_prompt(control, a_leg, words, nth)
    return [m for m in control.events(a_leg, "CHANNEL_EXECUTE") if is_field_read(m, words)][nth - 1]


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


def node_entry(name, switch):
    """A ``nodes`` entry of the service config for a live switch."""
    return {"name": name, "host": switch.host, "port": switch.port, "password": switch.password}


def write_agent_config(tmp_path, live_switch, sandbox, http_port=0, nodes=None, **agent_api):
    """The service config of these tests: the live switch as node (or ``nodes``: entries of
    ``node_entry``), the sandbox, agent alice."""
    host, port = live_switch.socket_address
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": host, "port": port}, "linger_seconds": 2,
        "http": {"enabled": True, "host": "127.0.0.1", "port": http_port},
        # the flows that need only the sandbox gateway (run refuses one naming what it lacks)
        "flows": {"directory": os.path.join(REPO, "flows"), "default": "card_payment",
                  "names": ["welcome", "amount_due", "card_payment"]},
        "store": {"path": str(tmp_path / "payments.sqlite")},
        "tenants": ["acme"],
        "nodes": nodes or [node_entry("live", live_switch)],
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url}],
        "agent_api": dict({"tokens": [{"token": TOKEN, "tenant": "acme", "agent": "alice"}],
                           "agents": {"alice": {"extension": "agent", "context": "default"}}},
                          **agent_api)}))
    return config


class Agent:
    def __init__(self, base, service, sandbox, ended, line):
        self.base, self.service, self.sandbox, self.ended, self.line = base, service, sandbox, ended, line

    def request(self, method, path, body=None):
        return requests.request(method, self.base + path, timeout=10,
                                headers={"Authorization": "Bearer " + TOKEN,
                                         "Content-Type": "application/json"},
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


STAY_EXTENSIONS = ("pay_agent", "agent_listen")


def stay_unavailable():
    """Why stay mode cannot run here yet, or None."""
    with open(os.path.join(REPO, "freeswitch_conf", "dialplan", "payments.xml"), encoding="utf-8") as f:
        dialplan = f.read()
    missing = [name for name in STAY_EXTENSIONS if '"^%s$"' % name not in dialplan]
    if missing:
        return ("stay mode not in the shipped dialplan yet: freeswitch_conf/dialplan/payments.xml "
                "has no %s extension (docs/stay-on-line.md)" % " / ".join(missing))
    return None
