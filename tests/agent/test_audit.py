"""The audit log (orchestrator/agent/audit.py): one line per API request on ``orchestrator.audit``
with the principal, the source, the session, the call and the result, written through the
service's own redacting log format, with no card digit in any line."""
import io
import json
import logging
import re

import gevent
import pytest

from orchestrator.logs import setup_logging
from tests.support.agent import TOKENS, read_stream
from tests.support.canary import traces

# seven digits of the canary card in a row, whatever stands between them: independent of the
# detector the redaction uses, so a gap there is not a gap here
CARD_DIGITS = re.compile(r"4\D{0,3}1\D{0,3}1\D{0,3}1\D{0,3}1\D{0,3}1\D{0,3}1")


@pytest.fixture
def audit_lines():
    """The audit lines logged so far, as dicts, through the production handler (json)."""
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)

    def lines():
        parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [line for line in parsed if line["logger"] == "orchestrator.audit"]
    lines.text = stream.getvalue
    yield lines
    logging.getLogger().removeHandler(handler)


def only(lines, **wanted):
    found = [line for line in lines if all(line.get(k) == v for k, v in wanted.items())]
    assert len(found) == 1, (wanted, lines)
    return found[0]


def test_every_action_is_one_line_naming_who_from_where_on_what_with_what_result(rig, audit_lines):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    started = rig.start_payment(call.uuid, who="alice", reference="INV-20261201-0042")
    assert started.status_code == 201, started.text
    session = started.json()["id"]
    rig.wait_state(session, "collecting")
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session, TOKENS["alice"]), stream)
    gevent.sleep(0.2)
    requests_made = [
        rig.request("GET", "/sessions", "acme"),
        rig.request("POST", "/sessions/%s/recapture" % session, body={"field": "expiry"}),
        rig.request("POST", "/sessions/%s/complete" % session,
                    body={"to": "extension", "extension": "900123456789", "context": "public"}),
        rig.request("GET", "/sessions/%s" % session, "other"),
        rig.request("POST", "/sessions/%s/cancel" % session),
    ]
    assert [r.status_code for r in requests_made] == [200, 200, 403, 404, 200]
    rig.wait_state(session, "ended")   # the cancel, seen through the GETs (audited as reads)
    reader.join(timeout=15)
    lines = audit_lines()
    base = {"source": "127.0.0.1", "session": session, "call": call.uuid}

    start = only(lines, action="start")
    assert start == dict(start, **{
        "tenant": "acme", "agent": "alice", "source": "127.0.0.1", "method": "POST",
        "path": "/api/v1/sessions", "status": "201", "level": "info", "session": session,
        "call": call.uuid, "agent_leg": agent.uuid, "msg": "start 201",
        "detail": "12.50 EUR transfer flow=card_payment reference=INV-20261201-0042"})
    watch = only(lines, action="watch")
    assert watch == dict(watch, tenant="acme", agent="alice", status="200",
                         path="/api/v1/sessions/%s/events" % session, **base)   # no query string
    listed = only(lines, action="list")
    assert listed["tenant"] == "acme" and "agent" not in listed and listed["status"] == "200"
    recapture = only(lines, action="recapture")
    assert recapture == dict(recapture, detail="field=expiry", status="200", agent="alice", **base)
    refused = only(lines, action="complete")
    assert refused == dict(refused, status="403", error="destination_not_allowed", level="warning",
                           detail="to=extension 900123456789@public", **base)
    cancel = only(lines, action="cancel")
    assert cancel == dict(cancel, status="200", tenant="acme", agent="alice", **base)
    # another tenant's read: their principal, the session asked for, no call named
    foreign = only(lines, action="read", tenant="globex")
    assert foreign["status"] == "404" and foreign["error"] == "session_not_found"
    assert foreign["session"] == session and "call" not in foreign and "agent" not in foreign
    # one line per request: the start, the event stream, the five above and the state polls
    polls = [line for line in lines if line["action"] == "read" and line.get("tenant") == "acme"]
    assert len(lines) == 2 + len(requests_made) + len(polls)
    call.hangup()


def test_refusals_are_audited_and_no_card_digit_reaches_a_line(rig, audit_lines):
    call, agent = rig.call()
    split_card = "4111.1111/1111#1111"
    replies = [
        rig.start_payment(call.uuid, reference=split_card),                     # 422
        rig.start_payment(call.uuid, reference="INV-1", amount=4111111111111111),  # 422
        rig.start_payment("4111-1111-1111-1111"),                                # 422, as a call id
        rig.request("GET", "/sessions/4111111111111111"),                        # an id from a path
        rig.request("GET", "/sessions", token="4111111111111111-not-a-token"),   # 401
        rig.request("GET", "/sessions/4111 1111 1111 1111/nothing"),             # no such route
        rig.start_payment(call.uuid, who="other"),                               # another tenant's
    ]
    assert [r.status_code for r in replies] == [422, 422, 422, 404, 401, 404, 404]
    assert replies[0].json() == {"error": "card_like", "field": "reference",
                                 "message": "reference looks like a card number; card numbers are "
                                            "never accepted here (the caller keys the card on the phone)"}
    assert [r.json()["field"] for r in replies[1:3]] == ["amount", "call_uuid"]
    for reply in replies:
        assert not CARD_DIGITS.search(reply.text), reply.text      # never repeated back
    lines = audit_lines()
    assert len(lines) == len(replies)
    assert [(line["action"], line["status"], line.get("error")) for line in lines] == [
        ("start", "422", "card_like"), ("start", "422", "card_like"), ("start", "422", "card_like"),
        ("read", "404", "session_not_found"), ("list", "401", "unauthorized"),
        ("none", "404", "not_found"), ("start", "404", "call_not_found")]
    assert lines[4].get("tenant") is None and lines[4].get("agent") is None
    assert lines[6]["tenant"] == "globex" and lines[6]["call"] == call.uuid
    text = audit_lines.text()
    assert "XXXX" in text                         # the paths were there, masked
    assert traces(text) == []
    assert not CARD_DIGITS.search(text), text
    assert TOKENS["alice"] not in text and TOKENS["other"] not in text
    # the service still takes payments
    assert rig.start_payment(call.uuid).status_code == 201
    call.hangup()


def test_the_public_document_is_not_audited(rig, audit_lines):
    assert rig.request("GET", "/openapi.json", token="").status_code == 200
    assert audit_lines() == []
