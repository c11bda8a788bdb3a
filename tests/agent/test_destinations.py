"""Where ``complete`` may send a caller: only the tenant's ``agent_api.destinations`` (extension +
context pairs, or patterns over the extension); anything else is refused with 403, before the
session's state is looked at, and nothing is done to the call.

The Rig's destinations (tests/support/agent.py): acme may send callers to 2001 in ``default``
and to 30xx in ``queues``; globex to 5000 in ``globex``.
"""
import gevent
import pytest

from tests.support.agent import PAYING_CALLER


def complete(rig, session_id, who="alice", **body):
    return rig.request("POST", "/sessions/%s/complete" % session_id, who, body)


def collecting(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    session = rig.start_payment(call.uuid).json()
    rig.wait_state(session["id"], "collecting")
    return call, session


@pytest.mark.parametrize("body", [
    {"to": "extension", "extension": "900123456789", "context": "public"},   # the toll-fraud door
    {"to": "extension", "extension": "900123456789"},                        # in default
    {"to": "queue", "queue": "900123456789", "context": "public"},
    {"to": "extension", "extension": "2001", "context": "public"},           # listed, other context
    {"to": "extension", "extension": "3010", "context": "default"},          # pattern's other context
    {"to": "queue", "queue": "30100", "context": "queues"},                  # the pattern matches whole
    {"to": "extension", "extension": "5000", "context": "globex"},           # another tenant's
])
def test_a_destination_not_in_the_tenants_list_is_refused_and_the_call_left_alone(rig, body):
    call, session = collecting(rig)
    reply = complete(rig, session["id"], **body)
    assert reply.status_code == 403, reply.text
    to = body["to"]
    assert reply.json() == {
        "error": "destination_not_allowed", "field": to,
        "message": "%s %s in context %s is not one of this tenant's destinations "
                   "(agent_api.destinations.acme in the service config)"
                   % (to, body[to], body.get("context", "default"))}
    live = rig.service.agent.registry.get(session["id"])
    assert live.state == "collecting" and call.channel.up and not call.record.transferred_to
    call.hangup()


@pytest.mark.parametrize("body", [
    {"to": "extension", "extension": "2001"}, {"to": "extension", "extension": "2001", "context": "default"},
    {"to": "queue", "queue": "3010", "context": "queues"}, {"to": "agent"}, {"to": "goodbye"},
])
def test_a_listed_destination_passes_the_list_and_meets_the_state_rule(rig, body):
    call, session = collecting(rig)
    reply = complete(rig, session["id"], **body)
    assert reply.status_code == 409 and reply.json()["error"] == "not_completable", reply.text
    call.hangup()


def test_complete_sends_a_paid_caller_to_a_listed_extension_and_never_to_another(rig):
    call, agent = rig.call(PAYING_CALLER)
    session = rig.start_payment(call.uuid).json()
    path = "/sessions/" + session["id"]
    with gevent.Timeout(30, AssertionError("the payment was never approved")):
        while rig.request("GET", path).json()["state"] != "approved":
            gevent.sleep(0.01)
    # while the flow announces the outcome, the agent takes the caller elsewhere
    refused = complete(rig, session["id"], to="extension", extension="900123456789", context="public")
    assert refused.status_code == 403
    reply = complete(rig, session["id"], to="extension", extension="2001")
    assert reply.status_code == 200, reply.text
    record = call.wait(timeout=30)
    assert record.transferred_to == "2001 XML default"
    assert len(rig.sandbox.charges) == 1


def paid_with_the_agent_gone(rig, agent_name):
    """A session at its outcome whose agent's leg hung up during the payment."""
    call, agent = rig.call(PAYING_CALLER, agent=agent_name)
    session = rig.start_payment(call.uuid, who=agent_name).json()
    rig.wait_state(session["id"], "collecting", who=agent_name)
    agent.hangup("NORMAL_CLEARING", by="agent")
    with gevent.Timeout(30, AssertionError("the payment was never approved")):
        while rig.request("GET", "/sessions/" + session["id"], agent_name).json()["state"] != "approved":
            gevent.sleep(0.01)
    return call, session


def test_to_agent_with_the_agents_leg_gone_goes_to_the_agents_configured_extension(rig):
    call, session = paid_with_the_agent_gone(rig, "alice")     # agents: alice -> 1001 in default
    reply = complete(rig, session["id"], to="agent")
    assert reply.status_code == 200, reply.text
    assert call.wait(timeout=30).transferred_to == "1001 XML default"


def test_to_agent_with_the_leg_gone_and_no_extension_configured_is_409_and_changes_nothing(rig):
    call, session = paid_with_the_agent_gone(rig, "bob")       # bob has no agents entry
    reply = complete(rig, session["id"], "bob", to="agent")
    assert reply.status_code == 409
    assert reply.json() == {"error": "agent_unavailable", "field": "to",
                            "message": "the agent's leg is gone and agent_api.agents names no "
                                       "extension for the agent"}
    record = call.wait(timeout=30)
    # nothing was undone by the refusal: the flow went on, and its otherwise (goodbye) ended it
    assert record.transferred_to is None and record.hangup_by == "service", record.outcome


def test_a_destination_that_may_be_a_card_number_is_422_and_not_repeated(rig):
    call, session = collecting(rig)
    reply = complete(rig, session["id"], to="extension", extension="4111111111111111", context="public")
    assert reply.status_code == 422 and reply.json()["field"] == "extension"
    assert "4111" not in reply.text
    assert rig.service.agent.registry.get(session["id"]).state == "collecting"
    call.hangup()
