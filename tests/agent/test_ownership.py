"""Tenant and agent isolation over real HTTP: a token starts, watches and acts only on its own
tenant's calls and, agent-scoped, only on calls bridged to its agent's leg; every other call or
session is answered exactly as one that does not exist (same status, same body).

Whose a call is comes from the switch (orchestrator/agent/ownership.py): the caller's channel's
``pay_tenant`` and the agent leg's ``pay_agent_id``, set here as a site's dialplan and directory
would (``owned_by``). Tokens: alice and bob, agents of acme; acme's supervisor; globex's.
"""
import pytest

from tests.support.agent import TOKENS, Rig

NO_CALL = "0d2c1e0a-1111-4222-8333-444455556666"
NO_SESSION = "ps_" + "0" * 24


def answer(reply):
    return reply.status_code, reply.json()


def start(rig, who, call_uuid=None, agent_uuid=None, **extra):
    return answer(rig.start_payment(call_uuid, who=who, agent_uuid=agent_uuid, **extra))


def no_such_call(rig, who, by):
    """What ``who`` is told about a call that does not exist, named by ``by``."""
    return start(rig, who, **{by: NO_CALL})


def untouched(call, agent):
    """Nothing was done to either leg: no payment set on the caller, the agent not parked."""
    return "pay_session" not in call.channel.variables and not agent.parked and agent.bridged_to == call.uuid


def test_a_call_of_another_tenant_or_agent_is_answered_as_one_that_does_not_exist(rig):
    acme_alice = rig.call(tenant="acme", agent="alice")
    acme_bob = rig.call(tenant="acme", agent="bob")
    globex_gina = rig.call(tenant="globex", agent="gina")
    refused = [("other", acme_alice), ("other", acme_bob),          # another tenant's
               ("bob", acme_alice), ("alice", acme_bob),             # another agent's
               ("alice", globex_gina), ("acme", globex_gina)]        # another tenant's, again
    for who, (call, agent) in refused:
        for mode in ("transfer", "stay"):
            # what the request claims about tenant or agent counts for nothing
            assert start(rig, who, call.uuid, mode=mode, tenant="globex", agent="gina") == \
                no_such_call(rig, who, "call_uuid"), (who, mode)
            assert start(rig, who, agent_uuid=agent.uuid, mode=mode) == \
                no_such_call(rig, who, "agent_uuid"), (who, mode)
        assert untouched(call, agent), who
    assert no_such_call(rig, "alice", "call_uuid") == (
        404, {"error": "call_not_found", "field": "call_uuid", "message": "no such live call"})
    assert len(rig.service.agent.registry) == 0
    for who in TOKENS:
        assert rig.request("GET", "/sessions", who).json()["sessions"] == []

    # the controls: each token may start on its own calls
    for who, (call, agent) in (("alice", acme_alice), ("bob", acme_bob), ("other", globex_gina)):
        reply = rig.start_payment(call.uuid, who=who)
        assert reply.status_code == 201, (who, reply.text)
    for call, _ in (acme_alice, acme_bob, globex_gina):
        call.hangup()


def test_a_payment_in_progress_is_not_revealed_to_another_tenant_or_agent(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    session = rig.start_payment(call.uuid, who="alice").json()
    rig.wait_state(session["id"], "collecting")
    # the caller left alice's bridge for the payment; it is still hers and her supervisor's
    for who in ("alice", "acme"):
        assert start(rig, who, call.uuid)[0] == 409
        status, body = start(rig, who, agent_uuid=agent.uuid)
        assert status == 409 and body["error"] == "not_bridged", who
    for who in ("bob", "other"):
        assert start(rig, who, call.uuid) == no_such_call(rig, who, "call_uuid"), who
        assert start(rig, who, agent_uuid=agent.uuid) == no_such_call(rig, who, "agent_uuid"), who
    assert [s["id"] for s in rig.request("GET", "/sessions", "acme").json()["sessions"]] == [session["id"]]
    call.hangup()


def session_requests(session_id):
    """Every session endpoint, as (method, path, body, token in the query)."""
    path = "/sessions/" + session_id
    return [("GET", path, None, False), ("GET", path + "/events", None, False),
            ("GET", path + "/events", None, True),
            ("POST", path + "/cancel", None, False),
            ("POST", path + "/recapture", {"field": "expiry"}, False),
            ("POST", path + "/complete", {"to": "extension", "extension": "2001"}, False),
            ("POST", path + "/complete", {"to": "agent"}, False),
            ("POST", path + "/complete", {"to": "goodbye"}, False)]


def send(rig, who, method, path, body, in_query):
    if in_query:
        return answer(rig.request(method, path + "?access_token=" + TOKENS[who], token=""))
    return answer(rig.request(method, path, who, body))


def test_every_session_endpoint_answers_another_tenant_or_agent_as_for_no_session(rig):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    session = rig.start_payment(call.uuid, who="alice").json()
    rig.wait_state(session["id"], "collecting")
    theirs, absent = session_requests(session["id"]), session_requests(NO_SESSION)
    for who in ("bob", "other"):
        for request, same_for_none in zip(theirs, absent):
            got = send(rig, who, *request)
            assert got == send(rig, who, *same_for_none), (who, request)
            assert got == (404, {"error": "session_not_found", "message": "no such session"}), (who, request)
        assert rig.request("GET", "/sessions", who).json()["sessions"] == []
    # nothing any of them asked reached the session or the call
    live = rig.service.agent.registry.get(session["id"])
    assert live.request is None and live.state == "collecting"
    assert call.channel.up and not call.record.transferred_to
    # the controls: the agent and her supervisor see it
    for who in ("alice", "acme"):
        assert rig.request("GET", "/sessions/" + session["id"], who).status_code == 200
    call.hangup()


def test_a_session_belongs_to_the_agent_whose_leg_the_call_is_bridged_to(rig, monkeypatch):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    commands, api = [], rig.switch.api
    monkeypatch.setattr(rig.switch, "api", lambda text: commands.append(text) or api(text))
    reply = rig.start_payment(call.uuid, who="acme")          # started by the supervisor
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert (session["tenant"], session["agent"]) == ("acme", "alice")
    assert rig.request("GET", "/sessions/" + session["id"], "alice").status_code == 200
    assert rig.request("GET", "/sessions/" + session["id"], "bob").status_code == 404
    # the service never wrote the call's tenant: the dialplan's value is the one there
    assert call.channel.variables["pay_tenant"] == "acme"
    assert any("pay_session" in cmd for cmd in commands)       # (the spy saw the hand-over)
    assert [cmd for cmd in commands if "pay_tenant" in cmd and "getvar" not in cmd] == []
    call.hangup()


@pytest.mark.parametrize("tenant", [None, "intruder", "ACME"])
def test_a_call_whose_tenant_no_token_holds_is_nobodys(rig, tenant):
    call, agent = rig.call(tenant=tenant, agent="alice")      # unset: default; else unknown
    for who in TOKENS:
        assert start(rig, who, call.uuid) == no_such_call(rig, who, "call_uuid"), who
        assert start(rig, who, agent_uuid=agent.uuid) == no_such_call(rig, who, "agent_uuid"), who
    assert untouched(call, agent)
    call.hangup()


def test_an_agent_leg_the_switch_names_no_agent_for_is_no_agents(rig):
    call, agent = rig.call(tenant="acme", agent=None)
    for who in ("alice", "bob"):
        assert start(rig, who, call.uuid) == no_such_call(rig, who, "call_uuid"), who
    assert untouched(call, agent)
    reply = rig.start_payment(call.uuid, who="acme")          # the tenant's supervisor may
    assert reply.status_code == 201 and reply.json()["agent"] is None
    call.hangup()


def single_tenant(config):
    """A site with one tenant: no tenants listed, a token naming none."""
    config.pop("tenants")
    config["agent_api"]["tokens"] = [{"token": "single-site-token-0123456789"}]
    config["agent_api"]["destinations"] = {"default": [{"extension": "2001", "context": "default"}]}
    config["agent_api"]["webhooks"] = {}


def test_a_single_tenant_site_sets_no_tenant_anywhere(tmp_path):
    rig = Rig(tmp_path, fail_first=0, configure=single_tenant)
    try:
        token = "single-site-token-0123456789"
        call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}], tenant=None, agent=None)
        reply = rig.start_payment(call.uuid, token=token)
        assert reply.status_code == 201, reply.text
        assert (reply.json()["tenant"], reply.json()["agent"]) == ("default", None)
        assert "pay_tenant" not in call.channel.variables
        # a call the dialplan marks for a tenant this site does not have is not the site's
        other, other_agent = rig.call(tenant="acme", agent=None)
        reply = rig.start_payment(other.uuid, token=token)
        assert reply.status_code == 404 and reply.json()["error"] == "call_not_found"
        call.hangup()
        other.hangup()
    finally:
        rig.stop()
