"""An agent on instance A acts on a call instance B holds, as if it were A's: the start is
forwarded and answered 201, the events stream on A as they happen on B, cancel reaches B, the
list on A shows B's sessions, and another tenant's agent gets the same 404 as for a call that
does not exist. A holder that does not answer is a 504 (two instances in one process, one
PostgreSQL store; the two-process test is test_two_processes.py)."""
import json

import gevent
import pytest

from tests.support.agent import PAYING_CALLER, TOKENS, read_stream, sse_events
from tests.support.canary import traces
from tests.support.instances import TwoInstances
from tests.support.waiting import eventually


@pytest.fixture
def pair(tmp_path, postgres_schema):
    instances = TwoInstances(tmp_path, postgres_schema.url)
    yield instances
    instances.stop()


def test_an_agent_on_a_pays_a_call_held_by_b(pair):
    a, b = pair.a, pair.b
    call, agent = b.call(PAYING_CALLER)                  # on B's switch: A has no node for it
    nowhere = a.start_payment("0000dead-0000-0000-0000-00000000beef", who="other")
    reply = a.start_payment(call.uuid, who="other")      # globex's agent: not theirs
    assert (reply.status_code, reply.json()) == (nowhere.status_code, nowhere.json())
    assert reply.status_code == 404 and reply.json()["error"] == "call_not_found"

    reply = a.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["call_uuid"] == call.uuid and session["agent"] == "alice"
    assert b.service.agent.registry.get(session["id"]) is not None      # B holds it
    assert a.service.agent.registry.get(session["id"]) is None
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (a.base, session["id"], TOKENS["alice"]), stream)
    listed = eventually(lambda: [s for s in a.request("GET", "/sessions").json()["sessions"]
                                 if s["id"] == session["id"]], timeout=20,
                        what="B's session in A's list")
    assert listed[0]["tenant"] == "acme"
    assert a.request("GET", "/sessions", who="other").json()["sessions"] == []
    assert a.request("GET", "/sessions/" + session["id"], who="other").status_code == 404

    record = call.wait(timeout=60)
    reader.join(timeout=20)
    assert reader.dead
    final = a.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved" and final["result"]["last4"] == "1111"
    assert record.variables["pay_session"] == session["id"]
    assert len(b.sandbox.charges) == 1 and not a.sandbox.charges

    events = sse_events("".join(stream[1:]))
    assert stream[0].startswith("text/event-stream") and events[0][0] == "snapshot"
    states = [p["state"] for e, p in events if e == "state"]
    assert states[-3:] == ["authorizing", "approved", "ended"] and "collecting" in states + [
        events[0][1]["state"]]
    fields = [p for e, p in events if e == "field"]
    assert {"field": "number", "state": "valid", "masked": "visa 411111******1111",
            "attempt": 1} in fields
    for text in [json.dumps(final), "".join(stream[1:]), json.dumps(b.sandbox.charges)]:
        assert traces(text) == []
    forwarded = a.service.metrics.relay_requests.labels("answered")._value.get()
    assert forwarded >= 2          # the start, the watch (and the GETs of a live session)


def test_cancel_on_a_reaches_the_call_on_b(pair):
    a, b = pair.a, pair.b
    call, agent = b.call([{"wait_prompt": 3}, {"silence": 60}])
    session = a.start_payment(call.uuid).json()
    a.wait_state(session["id"], "collecting")
    assert a.request("POST", "/sessions/%s/cancel" % session["id"], who="other").status_code == 404
    reply = a.request("POST", "/sessions/%s/cancel" % session["id"])
    assert reply.status_code == 200, reply.text
    assert a.wait_state(session["id"], "ended")["result"] is None
    record = call.wait(timeout=30)
    assert record.bridged_to == agent.uuid       # the flow's cancelled path returns the caller
    assert a.request("POST", "/sessions/%s/cancel" % session["id"]).status_code == 409
    assert not b.sandbox.charges


def test_a_holder_that_does_not_answer_is_a_504(pair):
    a, b = pair.a, pair.b
    call, _ = b.call([{"wait_prompt": 3}, {"silence": 60}])
    b.service.cluster.listener.stop()            # alive by its heartbeat, deaf to requests
    a.service.cluster.relay.timeout = 1.0
    reply = a.start_payment(call.uuid)
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"] == "instance_timeout"
    assert a.service.metrics.relay_requests.labels("timed_out")._value.get() == 1
    call.hangup()


def test_a_request_too_large_to_forward_is_refused_clearly(pair):
    a, b = pair.a, pair.b
    call, _ = b.call([{"wait_prompt": 3}, {"silence": 60}])
    reply = a.start_payment(call.uuid, note="x" * 9000)    # an extra field the API ignores
    assert reply.status_code == 413 and reply.json()["error"] == "too_large"
    assert "7999 bytes" in reply.json()["message"]
    call.hangup()


def test_recapture_on_a_reaches_the_call_on_b_and_its_stream_shows_it(pair):
    a, b = pair.a, pair.b
    caller = [{"wait_prompt": 3}, {"press": "4111111111111111#"}, {"wait_prompt": 4},
              {"press": "1230"}, {"wait_prompt": 5}, {"wait": 8}, {"press": "737"},
              {"wait_prompt": 6}, {"press": "1231"}]
    call, _ = b.call(caller)
    session = a.start_payment(call.uuid).json()
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (a.base, session["id"], TOKENS["alice"]), stream)
    eventually(lambda: a.request("GET", "/sessions/" + session["id"]).json()["fields"]["expiry"]
               ["state"] == "valid", timeout=30, what="the expiry keyed")
    assert a.request("POST", "/sessions/%s/recapture" % session["id"], who="other",
                     body={"field": "expiry"}).status_code == 404
    reply = a.request("POST", "/sessions/%s/recapture" % session["id"], body={"field": "expiry"})
    assert reply.status_code == 200, reply.text
    call.wait(timeout=60)
    reader.join(timeout=20)
    assert a.wait_state(session["id"], "ended")["result"]["status"] == "approved"
    expiry = [p["state"] for e, p in sse_events("".join(stream[1:]))
              if e == "field" and p["field"] == "expiry"]
    assert expiry[-4:] == ["typing", "valid", "typing", "valid"]
    assert traces("".join(stream)) == []


def test_a_holder_refusing_one_more_stream_is_said_as_it_said_it(pair, monkeypatch):
    from orchestrator.agent import remote
    a, b = pair.a, pair.b
    call, _ = b.call([{"wait_prompt": 3}, {"silence": 60}])
    session = a.start_payment(call.uuid).json()
    monkeypatch.setattr(remote, "MAX_WATCHERS", 0)           # B takes no stream of it
    reply = a.request("GET", "/sessions/%s/events" % session["id"])
    assert reply.status_code == 503 and reply.json()["error"] == "too_many_watchers"
    call.hangup()


def test_an_agent_on_a_finds_their_call_on_bs_switch_and_nothing_that_is_not_theirs(pair):
    """GET /calls on A merges B's list (B's switch is no node of A's), each instance checking
    ownership itself with the asker's principal."""
    a, b = pair.a, pair.b
    here, _ = a.call()
    there, _ = b.call(caller_id_number="+34600111222")
    bobs, _ = b.call(agent="bob")
    globex, _ = b.call(tenant="globex", agent="gina")
    answer = a.request("GET", "/calls").json()
    assert sorted(c["call_uuid"] for c in answer["calls"]) == sorted([here.uuid, there.uuid])
    assert answer["unavailable_nodes"] == [] and answer["nodes"] == ["fs1"]
    [theirs] = [c for c in answer["calls"] if c["call_uuid"] == there.uuid]
    assert theirs["caller"] == "+********222" and theirs["agent"] == "alice"
    supervisor = a.request("GET", "/calls", "acme").json()
    assert sorted(c["call_uuid"] for c in supervisor["calls"]) == sorted(
        [here.uuid, there.uuid, bobs.uuid])
    assert [c["call_uuid"] for c in a.request("GET", "/calls", "other").json()["calls"]] == [
        globex.uuid]
    # the call found through A starts through A, as a typed uuid would
    reply = a.start_payment(theirs["call_uuid"])
    assert reply.status_code == 201, reply.text
    a.request("POST", "/sessions/%s/cancel" % reply.json()["id"])
