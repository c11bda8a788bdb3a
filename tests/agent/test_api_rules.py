"""The agent API's rules over real HTTP: auth, input checks naming the field, conflicts, the document."""
import json

import pytest
import requests

from orchestrator.agent.api import MAX_BODY, OPENAPI_PATH, AgentApi
from orchestrator.bounded_json import MAX_DEPTH
from tests.support.agent import TOKENS


def test_no_token_or_a_wrong_one_is_401(rig):
    for token in ("", "not-a-token-at-all-000"):
        reply = rig.request("GET", "/sessions", token=token)
        assert reply.status_code == 401 and reply.json()["error"] == "unauthorized"
    # the query-string token is for the events URL only
    reply = rig.request("GET", "/sessions?access_token=" + TOKENS["alice"], token="")
    assert reply.status_code == 401


@pytest.mark.parametrize("change, field", [
    ({"amount": 0}, "amount"), ({"amount": "1250"}, "amount"), ({"amount": 12.5}, "amount"),
    ({"amount": True}, "amount"), ({"amount": None}, "amount"),
    ({"currency": "EURO"}, "currency"), ({"currency": None}, "currency"),
    ({"reference": ""}, "reference"), ({"reference": "INV 1"}, "reference"),
    ({"flow": "no_such_flow"}, "flow"), ({"mode": "sideways"}, "mode"),
    ({"call_uuid": None}, "call_uuid"), ({"agent_uuid": "abcdefgh-1234"}, "call_uuid"),
])
def test_bad_input_is_400_naming_the_field(rig, change, field):
    body = {"call_uuid": "0d2c1e0a-1111-4222-8333-444455556666", "amount": 1250, "currency": "EUR",
            "reference": "INV-1"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    reply = rig.request("POST", "/sessions", body=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["field"] == field


@pytest.mark.parametrize("change, field", [
    ({"reference": "4111111111111111"}, "reference"), ({"reference": "4111.1111/1111#1111"}, "reference"),
    ({"reference": "4111-1111-1111-1111"}, "reference"), ({"reference": "INV#4111_1111_1111_1111"}, "reference"),
    ({"amount": 4111111111111111}, "amount"), ({"currency": "4111 1111 1111 1111"}, "currency"),
    ({"note": ["x", {"y": "4111/1111/1111/1111"}]}, "note"), ({"flow": "378282246310005"}, "flow"),
])
def test_a_value_that_may_be_a_card_number_is_422_in_any_field_and_never_repeated(rig, change, field):
    call, agent = rig.call()
    body = {"call_uuid": call.uuid, "amount": 1250, "currency": "EUR", "reference": "INV-1"}
    body.update(change)
    reply = rig.request("POST", "/sessions", body=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "card_like" and reply.json()["field"] == field
    assert "1111" not in reply.text and "0005" not in reply.text
    assert "pay_session" not in call.channel.variables and len(rig.service.agent.registry) == 0
    # ordinary references with long digit groups are taken
    reply = rig.start_payment(call.uuid, reference="INV-20261201-0042")
    assert reply.status_code == 201, reply.text
    call.hangup()


def test_not_json_is_400(rig):
    reply = requests.post(rig.base + "/sessions", data=b"{not json", timeout=10,
                          headers={"Authorization": "Bearer " + TOKENS["alice"],
                                   "Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_json"
    reply = rig.request("POST", "/sessions", body=[1, 2])
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_json"


def post_raw(rig, body):
    return requests.post(rig.base + "/sessions", data=body, timeout=10,
                         headers={"Authorization": "Bearer " + TOKENS["alice"],
                                  "Content-Type": "application/json"})


def test_a_body_nested_8000_deep_is_400_and_the_api_keeps_serving(rig):
    deep = ("[" * 8000 + "]" * 8000).encode()
    assert len(deep) <= MAX_BODY                 # within the size bound: the depth refuses it
    reply = post_raw(rig, deep)
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_json", "message": "the body nests deeper than 32 levels"}
    assert rig.request("GET", "/sessions").status_code == 200


def test_a_body_at_the_depth_limit_is_read_and_one_level_more_is_not(rig):
    def body(depth):   # an object whose mode takes the document to ``depth`` levels
        return json.dumps({"mode": json.loads("[" * (depth - 1) + "]" * (depth - 1))}).encode()

    assert MAX_DEPTH == 32
    reply = post_raw(rig, body(MAX_DEPTH))
    assert reply.status_code == 400 and reply.json()["field"] == "mode"   # read, then judged
    reply = post_raw(rig, body(MAX_DEPTH + 1))
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_json"


def test_unknown_call_is_404_and_stay_mode_without_an_agent_leg_is_409(rig):
    reply = rig.start_payment("0d2c1e0a-1111-4222-8333-444455556666")
    assert reply.status_code == 404
    assert reply.json() == {"error": "call_not_found", "field": "call_uuid", "message": "no such live call"}
    call, agent = rig.call()
    agent.hangup("NORMAL_CLEARING", by="agent")
    reply = rig.start_payment(call.uuid, who="acme", mode="stay")   # the tenant's supervisor
    assert reply.status_code == 409
    assert reply.json() == {"error": "mode_unavailable", "field": "mode",
                            "message": "stay-on-line mode needs the caller bridged to an "
                                       "agent's channel; use transfer"}
    assert "pay_session" not in call.channel.variables   # nothing touched the call
    call.hangup()


def test_duplicate_session_is_409_and_sessions_are_fenced_by_tenant_and_agent(rig):
    call, agent = rig.call()
    first = rig.start_payment(call.uuid)
    assert first.status_code == 201, first.text
    session = first.json()
    assert rig.start_payment(call.uuid).status_code == 409
    assert rig.start_payment(None, agent_uuid=agent.uuid).status_code == 409
    path = "/sessions/" + session["id"]
    assert rig.request("GET", path, "alice").status_code == 200
    assert rig.request("GET", path, "acme").status_code == 200          # the tenant's supervisor
    for who in ("bob", "other"):                                       # another agent, tenant
        assert rig.request("GET", path, who).status_code == 404
        assert rig.request("POST", path + "/cancel", who).status_code == 404
        assert rig.request("GET", path + "/events?access_token=" + TOKENS[who], token="").status_code == 404
        assert rig.request("GET", "/sessions", who).json()["sessions"] == []
    assert [s["id"] for s in rig.request("GET", "/sessions", "alice").json()["sessions"]] == [session["id"]]
    assert rig.request("GET", "/sessions/ps_nope", "alice").status_code == 404
    reply = rig.request("POST", path + "/recapture", body={"field": "pin"})
    assert reply.status_code == 400 and reply.json()["field"] == "field"
    reply = rig.request("POST", path + "/complete", body={"to": "somewhere"})
    assert reply.status_code == 400 and reply.json()["field"] == "to"
    reply = rig.request("POST", path + "/complete", body={"to": "agent"})
    assert reply.status_code == 409    # nothing to complete before the payment's outcome
    call.hangup()


def test_a_refused_transfer_leaves_nothing_behind(rig):
    call, agent = rig.call()
    call.hangup()        # gone between the lookup and the transfer: emulate by a dead call
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 404
    assert rig.request("GET", "/sessions", "acme").json()["sessions"] == []


def test_every_route_is_in_the_document_and_every_documented_route_is_served(rig):
    served = {(method.lower(), path) for method, path, _ in AgentApi.ROUTES}
    with open(OPENAPI_PATH, encoding="utf-8") as handle:
        document = json.load(handle)
    documented = {(method, path) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert served == documented
    assert document["openapi"].startswith("3.1")
    reply = rig.request("GET", "/openapi.json", token="")
    assert reply.status_code == 200 and reply.json() == document
    for method, path in served:    # each route answers (401 without a token), none is 404/405
        reply = rig.request(method.upper(), path.replace("{id}", "ps_x"), token="")
        assert reply.status_code in (200, 401), (method, path, reply.status_code)


def test_a_body_that_is_not_json_is_415_and_the_api_keeps_serving(rig):
    reply = requests.post(rig.base + "/sessions", data=b"amount=1250&currency=EUR", timeout=10,
                          headers={"Authorization": "Bearer " + TOKENS["alice"],
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415
    assert reply.json()["error"] == "unsupported_media_type"
    listed = rig.request("GET", "/sessions")
    assert listed.status_code == 200 and listed.json()["sessions"] == []
