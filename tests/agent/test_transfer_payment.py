"""A whole agent-assisted payment in transfer mode, driven through the API by a scripted caller."""
import json

import gevent

from orchestrator.payments.signing import verify
from tests.support.agent import PAYING_CALLER, SECRET, TOKENS, Rig, read_stream, sse_events
from tests.support.canary import traces


def test_a_payment_through_the_api_in_transfer_mode(rig):
    call, agent = rig.call(PAYING_CALLER)
    reply = rig.start_payment(None, agent_uuid=agent.uuid)       # found from the agent's leg
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["state"] == "created" and session["call_uuid"] == call.uuid
    assert session["amount_text"] == "12.50 EUR" and session["agent"] == "alice"
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    record = call.wait(timeout=60)
    reader.join(timeout=15)
    assert reader.dead
    final = rig.request("GET", "/sessions/" + session["id"]).json()
    assert final["state"] == "ended"
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "1111"
    assert final["fields"]["number"]["masked"] == "visa 411111******1111"
    assert final["fields"]["expiry"]["masked"] == "**/**"
    assert final["fields"]["security_code"]["masked"] == "***"

    # the switch saw the hand-over: variables, transfer to pay, agent held, bridged back
    assert record.variables["pay_session"] == session["id"]
    assert record.variables["pay_amount"] == "1250" and record.variables["pay_agent"] == "1001"
    assert record.bridged_to == agent.uuid
    what = [w for _, w, _ in agent.heard]
    assert what[:3] == ["unbridged", "parked", "broadcast"] and "bridged" in what
    assert agent.up and agent.bridged_to == call.uuid

    # the stream: snapshot, then the states in order, fields masked, the authorization
    assert stream[0].startswith("text/event-stream")
    events = sse_events("".join(stream[1:]))
    assert events[0][0] == "snapshot"
    states = [p["state"] for e, p in events if e == "state"]
    assert [s for s in states if s != "waiting"] == ["collecting", "authorizing", "approved", "ended"]
    fields = [p for e, p in events if e == "field"]
    assert {"field": "number", "state": "valid", "masked": "visa 411111******1111", "attempt": 1} in fields
    authorization = [p for e, p in events if e == "authorization"]
    assert authorization and authorization[0]["status"] == "approved"

    # webhooks: signed, retried after the receiver's first 500
    with gevent.Timeout(15):
        while not any(json.loads(r["body"])["data"].get("state") == "ended"
                      for r in rig.receiver.requests[1:]):
            gevent.sleep(0.05)
    first = rig.receiver.requests[0]
    # the same notice again after a 500 (other notices, on other workers, may come in between)
    assert first["body"] in [r["body"] for r in rig.receiver.requests[1:]]
    for request in rig.receiver.requests:
        assert verify(SECRET, request["headers"]["X-Timestamp"], request["headers"]["X-Signature"],
                      request["body"])
    bodies = [json.loads(r["body"]) for r in rig.receiver.requests]
    # the session's notices and the IVR's own callbacks, one receiver, told apart by type
    assert {b["session_id"] for b in bodies} == {session["id"]}
    types = {b["type"] for b in bodies}
    assert {"session.state", "payment.field.accepted", "payment.authorizing",
            "payment.result"} <= types, types
    [result] = {r["headers"]["X-Event-Id"]: b for r, b in zip(rig.receiver.requests, bodies)
                if b["type"] == "payment.result"}.values()
    assert result["data"]["status"] == "approved" and result["data"]["card"] == "411111******1111"

    # the canary: nothing anywhere shows the card beyond BIN and last four
    for text in [json.dumps(final), "".join(stream[1:])] + [r["body"].decode() for r in rig.receiver.requests]:
        assert traces(text) == []
    assert all(len(t) > 0 for t in stream)


def test_the_agent_cancels_during_card_entry(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    session = rig.start_payment(call.uuid).json()
    rig.wait_state(session["id"], "collecting")
    reply = rig.request("POST", "/sessions/%s/cancel" % session["id"])
    assert reply.status_code == 200
    ended = rig.wait_state(session["id"], "ended")
    assert ended["result"] is None
    record = call.wait(timeout=30)
    assert record.bridged_to == agent.uuid       # the flow's cancelled path returns the caller
    assert rig.request("POST", "/sessions/%s/cancel" % session["id"]).status_code == 409
    assert not rig.sandbox.charges


def test_the_agent_asks_for_the_expiry_again(rig):
    caller = [{"wait_prompt": 3}, {"press": "4111111111111111#"}, {"wait_prompt": 4}, {"press": "1230"},
              {"wait_prompt": 5}, {"wait": 5}, {"press": "737"}, {"wait_prompt": 6}, {"press": "1231"}]
    call, agent = rig.call(caller)
    session = rig.start_payment(call.uuid).json()
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    with gevent.Timeout(30):
        while rig.request("GET", "/sessions/" + session["id"]).json()["fields"]["expiry"]["state"] != "valid":
            gevent.sleep(0.02)
    # asked while the security code is being keyed: the expiry is asked again after it
    assert rig.request("POST", "/sessions/%s/recapture" % session["id"],
                       body={"field": "expiry"}).status_code == 200
    call.wait(timeout=60)
    reader.join(timeout=15)
    final = rig.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    expiry = [p["state"] for e, p in sse_events("".join(stream[1:])) if e == "field" and p["field"] == "expiry"]
    assert expiry == ["typing", "valid", "typing", "valid"]
    assert rig.request("POST", "/sessions/%s/recapture" % session["id"],
                       body={"field": "expiry"}).status_code == 409


def test_released_hold_hangs_the_agent_leg_up_and_a_late_complete_is_409(tmp_path):
    rig = Rig(tmp_path, hold="release", fail_first=0)
    try:
        call, agent = rig.call([{"wait_prompt": 1}, {"hangup": {}}])
        reply = rig.start_payment(call.uuid)
        assert reply.status_code == 201, reply.text
        session = reply.json()
        call.wait(timeout=30)
        assert not agent.up                       # released: FreeSWITCH hangs up the B-leg
        final = rig.wait_state(session["id"], "ended")
        assert final["result"] is None
        assert rig.request("POST", "/sessions/%s/complete" % session["id"],
                           body={"to": "agent"}).status_code == 409
    finally:
        rig.stop()


def test_the_agent_chooses_the_callers_language(rig):
    call, agent = rig.call(PAYING_CALLER)
    refused = rig.start_payment(call.uuid, language="Russian")
    assert refused.status_code == 400 and refused.json()["field"] == "language"
    reply = rig.start_payment(call.uuid, language="ru")
    assert reply.status_code == 201, reply.text
    record = call.wait(timeout=60)
    assert record.variables["pay_language"] == "ru"
    heard = [h.arg for h in record.heard]
    assert "tts_commandline|ru|Сумма к оплате:" in heard
    assert "say:Введите номер карты и нажмите решётку." in heard
