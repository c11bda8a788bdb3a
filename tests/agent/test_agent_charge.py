"""The agent-started charge ("charge": "agent"): the flow holds the complete card until the
agent's ``POST .../charge``; the service, the simulator and the sandbox gateway for real."""
import json
import os
import textwrap

import gevent
import pytest

from orchestrator.agent.card_retries import agent_decides_after_decline
from orchestrator.engine import load_flow_text
from tests.support.agent import (CODE, PAN, TOKENS, Rig, listed_while_declined, read_stream,
                                 sse_events, sse_ids, states_seen)
from tests.support.canary import traces

DECLINED_PAN = "4000000000009995"
FLOWS = os.path.join(os.path.dirname(__file__), "..", "..", "flows")
# after a decline the flow waits for the agent: another card or cancel, nothing by itself
AGENT_DECIDES = {"next": "agent_decides", "card": 1, "cards_allowed": None}


def keyed(pan=PAN, nth=1):
    """A caller who keys a whole card once the ``nth`` card prompt has started."""
    first = 3 if nth == 1 else None
    steps = [{"wait_prompt": first}] if first else []
    return steps + [{"press": pan + "#"}, {"wait_prompt": 4}, {"press": "1230"},
                    {"wait_prompt": 5}, {"press": CODE}]


def key_card(call, pan, nth, timeout=30):
    """Key a whole card once the ``nth`` card number prompt has started (a later card)."""
    def heard(text, count):
        return sum(text in h.arg for h in call.record.heard) >= count

    def run():
        with gevent.Timeout(timeout, False):
            for text, digits in (("card number", pan + "#"), ("expiry", "1230"),
                                 ("security code", CODE)):
                while not heard(text, nth):
                    gevent.sleep(0.01)
                for digit in digits:
                    call.press(digit)
                    gevent.sleep(0.005)
    return gevent.spawn(run)


def start(rig, call, **extra):
    reply = rig.start_payment(call.uuid, charge="agent", **extra)
    assert reply.status_code == 201, reply.text
    assert reply.json()["charge"] == "agent"
    return reply.json()


def charge(rig, session, who="alice", **body):
    return rig.request("POST", "/sessions/%s/charge" % session["id"], who, body)


@pytest.fixture
def short_rig(tmp_path):
    def configure(config):
        config["agent_api"]["charge_timeout"] = 5
    rig = Rig(tmp_path, configure=configure)
    yield rig
    rig.stop()


def test_nothing_is_charged_until_the_agent_charges(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"press": PAN + "#"}, {"wait_prompt": 4},
                            {"press": "1230"}, {"wait_prompt": 5}, {"press": CODE}])
    session = start(rig, call)
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    awaiting = rig.wait_state(session["id"], "awaiting_charge", timeout=60)
    assert awaiting["fields"]["number"]["masked"] == "visa 411111******1111"
    assert awaiting["amount_text"] == "12.50 EUR" and awaiting["charge_attempt"] == 1
    gevent.sleep(1.5)          # the flow holds the card: nothing reaches the gateway
    assert rig.sandbox.charges == []
    assert [p for p in rig.service.store.list() if p["call_uuid"] == call.uuid] == []
    assert rig.request("GET", "/sessions/" + session["id"]).json()["state"] == "awaiting_charge"
    heard = [h.arg for h in call.record.heard]
    assert any("agent completes the payment" in arg for arg in heard), heard

    reply = charge(rig, session, attempt=1)
    assert reply.status_code == 200, reply.text
    answered = reply.json()    # the answer carries the result: no polling needed
    assert answered["state"] == "approved"
    assert answered["result"]["status"] == "approved" and answered["result"]["auth_code"]
    assert len(rig.sandbox.charges) == 1
    again = charge(rig, session)          # a retry: the same answer, nothing more charged
    assert again.status_code == 200 and again.json()["result"] == answered["result"]
    assert len(rig.sandbox.charges) == 1

    rig.request("POST", "/sessions/%s/complete" % session["id"], body={"to": "agent"})
    call.wait(timeout=60)
    reader.join(timeout=15)
    events = sse_events("".join(stream[1:]))
    states = [p["state"] for e, p in events if e == "state"]
    assert "awaiting_charge" in states
    assert states.index("awaiting_charge") < states.index("authorizing") < states.index("approved")
    # each event is numbered with the session's version after it, one more each time: the
    # charge's answer names the version it was taken at, which the stream had reached
    ids = sse_ids("".join(stream[1:]))
    assert ids[0][0] == "snapshot" and all(version is not None for _, version in ids)
    assert [version for _, version in ids[1:]] == list(range(ids[0][1] + 1, ids[0][1] + len(ids)))
    assert answered["version"] in [version for _, version in ids]
    for text in [json.dumps(answered), "".join(stream[1:])]:
        assert traces(text) == []


def test_a_double_click_charges_once(rig):
    call, agent = rig.call(keyed())
    session = start(rig, call)
    rig.wait_state(session["id"], "awaiting_charge")
    clicks = [gevent.spawn(charge, rig, session, attempt=1) for _ in range(2)]
    gevent.joinall(clicks, timeout=30)
    replies = [c.value for c in clicks]
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    assert [r.json()["result"]["status"] for r in replies] == ["approved", "approved"]
    assert replies[0].json()["result"] == replies[1].json()["result"]
    assert len(rig.sandbox.charges) == 1
    # one attempt in the books: one record, one idempotency key
    [payment] = [p for p in rig.service.store.list() if p["call_uuid"] == call.uuid]
    assert payment["status"] == "approved"


def test_a_decline_then_another_card_then_approved(rig):
    call, agent = rig.call(keyed(DECLINED_PAN) + [{"silence": 60}])
    seen = listed_while_declined(rig)
    session = start(rig, call)
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    rig.wait_state(session["id"], "awaiting_charge")
    declined = charge(rig, session)
    assert declined.status_code == 200
    shown = declined.json()
    assert shown["state"] == "declined"
    assert shown["result"]["status"] == "declined" and shown["result"]["decline_reason"]
    # the flow asks for no card by itself: it waits for the agent, and says so from the start
    assert shown["after_decline"] == AGENT_DECIDES
    assert seen == [[session["id"]]]        # listed from the decline on, before the wait began
    assert rig.sandbox.charges == []
    # the flow holds the caller for the agent's decision: another card is asked for
    with gevent.Timeout(30):
        while not rig.request("GET", "/sessions/" + session["id"]).json()["awaiting_decision"]:
            gevent.sleep(0.05)
    waiting = rig.request("GET", "/sessions/" + session["id"]).json()
    assert waiting["state"] == "declined" and waiting["after_decline"] == AGENT_DECIDES
    assert [s["id"] for s in rig.request("GET", "/sessions").json()["sessions"]] == [session["id"]]
    gevent.sleep(1.5)          # nothing happens by itself: no second card is asked for
    assert sum("card number" in h.arg for h in call.record.heard) == 1
    assert rig.request("GET", "/sessions/" + session["id"]).json()["state"] == "declined"
    assert charge(rig, session).json()["error"] == "not_awaiting_charge"   # no card to charge
    key_card(call, PAN, 2)
    assert rig.request("POST", "/sessions/%s/recapture" % session["id"], body={}).status_code == 200
    second = rig.wait_state(session["id"], "awaiting_charge")
    assert second["charge_attempt"] == 3          # card 1, the decision, card 2
    assert charge(rig, session, attempt=1).json()["error"] == "stale_attempt"
    approved = charge(rig, session, attempt=3).json()
    assert approved["state"] == "approved" and approved["result"]["last4"] == "1111"
    assert approved["after_decline"] is None
    assert len(rig.sandbox.charges) == 1
    rig.request("POST", "/sessions/%s/complete" % session["id"], body={"to": "agent"})
    call.wait(timeout=60)
    reader.join(timeout=15)
    answers = [p for e, p in sse_events("".join(stream[1:])) if e == "authorization"]
    assert [a["status"] for a in answers] == ["declined", "approved"]
    assert answers[0]["after_decline"] == AGENT_DECIDES and "after_decline" not in answers[1]


def test_the_flow_read_says_whether_it_waits_for_the_agent_after_a_decline():
    for name in ("card_payment", "agent_payment"):     # the shipped flows an agent starts
        with open(os.path.join(FLOWS, name + ".yaml"), encoding="utf-8") as handle:
            assert agent_decides_after_decline(load_flow_text(handle.read(), name)), name
    text = textwrap.dedent("""
        flow: f
        vars: {amount: "100", currency: EUR, reference: R-1}
        steps:
          - id: card
            collect_card: {fields: [number, expiry], on: {cancelled: end}}
          - agent_charge:
              on: {another-card: card, cancelled: end, timeout: end}
          - authorize: {gateway: sandbox, on: {declined: declined, error: end}}
          - goto: end
          - id: declined
            announce: payment_declined
          - goto: decide
          - id: decide
            agent_charge: {on: {another-card: card, cancelled: end, timeout: end}}
          - id: end
            hangup: {}
        """).lstrip("\n")
    assert agent_decides_after_decline(load_flow_text(text, "t.yaml"))      # through a goto
    retried = text.replace("  - goto: decide\n", '  - branch: {if: "${attempts.card} < 2", then: card}\n')
    assert retried != text
    assert not agent_decides_after_decline(load_flow_text(retried, "t.yaml"))  # the flow asks
    switched_off = text.replace("agent_charge: {on:", "agent_charge: {enabled: false, on:")
    assert switched_off != text
    assert not agent_decides_after_decline(load_flow_text(switched_off, "t.yaml"))


def test_the_agent_does_not_charge_in_time(short_rig):
    rig = short_rig
    seen = states_seen(rig)
    call, agent = rig.call(keyed() + [{"silence": 60}])
    session = start(rig, call)
    rig.wait_state(session["id"], "awaiting_charge")
    rig.wait_state(session["id"], "ended", timeout=20)   # expired lasts an instant, then ended
    mine = [(state, view) for sid, state, view in seen if sid == session["id"]]
    assert [state for state, _ in mine][-2:] == ["expired", "ended"]
    assert [view for state, view in mine if state == "expired"][0]["result"] is None
    assert charge(rig, session).status_code == 409
    record = call.wait(timeout=30)
    assert record.bridged_to == agent.uuid          # back to the agent, nothing charged
    assert rig.sandbox.charges == []
    assert rig.wait_state(session["id"], "ended")["result"] is None


def test_the_agent_cancels_while_the_card_waits(rig):
    call, agent = rig.call(keyed() + [{"silence": 60}])
    session = start(rig, call)
    rig.wait_state(session["id"], "awaiting_charge")
    reply = rig.request("POST", "/sessions/%s/cancel" % session["id"])
    assert reply.status_code == 200
    rig.wait_state(session["id"], "ended", timeout=20)
    record = call.wait(timeout=30)
    assert record.bridged_to == agent.uuid
    assert rig.sandbox.charges == []
    assert charge(rig, session).status_code == 409


def test_the_caller_hangs_up_while_the_card_waits(rig):
    call, agent = rig.call(keyed() + [{"silence": 60}])
    session = start(rig, call)
    rig.wait_state(session["id"], "awaiting_charge")
    call.hangup()
    ended = rig.wait_state(session["id"], "ended", timeout=20)
    assert ended["result"] is None
    assert charge(rig, session).status_code == 409
    assert rig.sandbox.charges == []


def test_another_tenants_token_gets_404(rig):
    call, agent = rig.call(keyed() + [{"silence": 60}])
    session = start(rig, call)
    rig.wait_state(session["id"], "awaiting_charge")
    for who in ("other", "bob"):      # another tenant; another agent of the same tenant
        reply = charge(rig, session, who=who)
        assert reply.status_code == 404 and reply.json()["error"] == "session_not_found"
    missing = rig.request("POST", "/sessions/ps_000000000000000000000000/charge", "other", {})
    assert missing.json() == reply.json()
    gevent.sleep(0.5)
    assert rig.sandbox.charges == []
    assert rig.request("POST", "/sessions/%s/cancel" % session["id"]).status_code == 200


def test_a_session_charged_by_its_flow_refuses_the_charge_request(rig):
    call, agent = rig.call(keyed())
    session = rig.start_payment(call.uuid).json()
    assert session["charge"] == "auto"
    reply = charge(rig, session)
    assert reply.status_code == 409 and reply.json()["error"] == "not_agent_charge"
    bad = rig.start_payment(call.uuid, charge="later")
    assert bad.status_code in (400, 409)
    call.wait(timeout=60)
    assert len(rig.sandbox.charges) == 1


def test_the_charge_is_audited_and_no_line_holds_the_card(rig):
    import io
    import logging

    from orchestrator.logs import setup_logging
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        call, agent = rig.call(keyed())
        session = start(rig, call)
        rig.wait_state(session["id"], "awaiting_charge")
        assert charge(rig, session, attempt=1).json()["state"] == "approved"
        assert charge(rig, session, who="other").status_code == 404
        call.wait(timeout=60)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    audit = [line for line in lines if line["logger"] == "orchestrator.audit"
             and line.get("action") == "charge"]
    assert [(a["status"], a["tenant"], a.get("agent"), a.get("error")) for a in audit] == [
        ("200", "acme", "alice", None), ("404", "globex", None, "session_not_found")], audit
    assert audit[0]["detail"] == "12.50 EUR attempt=1"
    assert traces(stream.getvalue()) == []
    assert PAN not in stream.getvalue()


def test_in_stay_mode_the_listening_agent_charges_and_hears_no_key(rig):
    from tests.support.stay_call import (assert_no_key_reached_the_agent, assert_restored,
                                         key_after, stay_call)
    call, agent = stay_call(rig, [])
    key_after(call, "card number", PAN + "#")
    key_after(call, "expiry", "1230")
    key_after(call, "security code", CODE)
    reply = rig.start_payment(call.uuid, mode="stay", charge="agent")
    assert reply.status_code == 201, reply.text
    session = reply.json()
    rig.wait_state(session["id"], "awaiting_charge", timeout=60)
    gevent.sleep(0.5)
    assert rig.sandbox.charges == []
    prompts = " ".join(p for _, p in agent.prompts_heard)
    assert "agent completes the payment" in prompts     # the agent hears the caller is held
    approved = charge(rig, session, attempt=1).json()
    assert approved["state"] == "approved" and approved["mode"] == "stay"
    record = call.wait(timeout=60)
    assert rig.wait_state(session["id"], "ended")["result"]["status"] == "approved"
    assert len(rig.sandbox.charges) == 1
    assert agent.up and record.bridged_to == agent.uuid
    assert_no_key_reached_the_agent(call, agent)
    assert_restored(record)
