"""After a decline the session says what the flow does next, from the flow's own definition
(orchestrator/agent/card_retries.py): another card (card 2 of 2 in the shipped card_payment),
or no more. The session stays listed while the caller is asked for another card, and the
next card's fields start afresh. Real HTTP, the simulator, the sandbox gateway."""
import json
import os
import textwrap

import gevent

from orchestrator.agent.card_retries import cards_allowed
from orchestrator.engine import load_flow_text
from tests.support.agent import CODE, PAN, TOKENS, listed_while_declined, read_stream, sse_events
from tests.support.stay_call import key_after

DECLINED_PAN = "4000000000009995"      # sandbox: declined, insufficient funds
FLOWS = os.path.join(os.path.dirname(__file__), "..", "..", "flows")


def card(call, number, nth):
    key_after(call, "card number", number + "#", nth)
    key_after(call, "expiry", "1230", nth)
    key_after(call, "security code", CODE, nth)


def started(rig, call):
    stream = []
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session["id"], TOKENS["alice"]), stream)
    return session, stream, reader


def test_a_declined_card_says_another_is_asked_for_and_the_next_card_starts_afresh(rig):
    call, agent = rig.call([], max_duration=120)
    card(call, DECLINED_PAN, 1)
    card(call, PAN, 2)
    seen = listed_while_declined(rig)
    session, stream, reader = started(rig, call)
    call.wait(timeout=90)
    final = rig.wait_state(session["id"], "ended")
    reader.join(timeout=10)
    events = sse_events("".join(stream[1:]))
    answers = [p for e, p in events if e == "authorization"]
    assert answers[0]["status"] == "declined" and "funds" in answers[0]["decline_reason"]
    assert answers[0]["after_decline"] == {"next": "another_card", "card": 1, "cards_allowed": 2}
    assert answers[1]["status"] == "approved" and "after_decline" not in answers[1]
    assert seen == [[session["id"]]]               # listed while the flow asks for the next card
    # between the decline and the next card's first key, every field was reset to pending
    declined_at = next(i for i, (e, p) in enumerate(events) if p == {"state": "declined"})
    collecting = next(i for i, (e, p) in enumerate(events)
                      if i > declined_at and p == {"state": "collecting"})
    reset = [p for e, p in events[declined_at:collecting] if e == "field"]
    assert reset == [{"field": f, "state": "pending", "attempt": 0}
                     for f in ("number", "expiry", "security_code")]
    assert final["result"]["status"] == "approved" and final["after_decline"] is None
    assert all(f["state"] == "valid" for f in final["fields"].values())
    assert DECLINED_PAN not in json.dumps(events) and PAN not in json.dumps(events)


def test_the_last_card_declined_says_no_more_cards(rig):
    call, agent = rig.call([], max_duration=120)
    card(call, DECLINED_PAN, 1)
    card(call, DECLINED_PAN, 2)
    seen = listed_while_declined(rig)
    session, stream, reader = started(rig, call)
    call.wait(timeout=90)
    final = rig.wait_state(session["id"], "ended")
    assert final["after_decline"] == {"next": "no_more_cards", "card": 2, "cards_allowed": 2}
    assert seen == [[session["id"]], []]           # the last decline leaves the active list
    assert rig.request("GET", "/sessions").json()["sessions"] == []


def flow(text):
    return load_flow_text(textwrap.dedent(text).lstrip("\n"), "t.yaml")


def test_the_cards_a_flow_allows_are_read_from_its_branch_on_the_card_steps_attempts():
    with open(os.path.join(FLOWS, "card_payment.yaml"), encoding="utf-8") as handle:
        assert cards_allowed(load_flow_text(handle.read(), "card_payment.yaml")) == 2
    three = """
        flow: f
        vars: {amount: "100", currency: EUR, reference: R-1}
        steps:
          - id: card
            collect_card: {fields: [number, expiry], on: {cancelled: end}}
          - authorize: {gateway: sandbox, on: {declined: again, error: end}}
          - goto: end
          - id: again
            branch: {if: "${attempts.card} <= 2", then: card}
          - id: end
            hangup: {}
        """
    assert cards_allowed(flow(three)) == 3
    once = three.replace('branch: {if: "${attempts.card} <= 2", then: card}', "goto: end")
    assert cards_allowed(flow(once)) is None     # says nothing in the shape read: unknown
