"""The agent API on a site whose tenants have blocks (tests/support/tenants.py moves the Rig's
acme and globex into them): a token starts only its own tenant's flows; another tenant's flow
is answered exactly as a flow that does not exist, counted, and the call is left alone."""
import gevent
import pytest

from tests.support.agent import PAYING_CALLER, Rig
from tests.support.tenants import agent_rig_in_blocks


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path, configure=agent_rig_in_blocks(tmp_path / "globex-flows"))
    yield rig
    rig.stop()


def refusals(rig, tenant):
    return rig.world.metric("payivr_tenant_refusals_total", tenant=tenant, resource="flow")


def test_another_tenants_flow_is_refused_as_one_that_does_not_exist(rig, caplog):
    call, agent = rig.call([{"silence": 60}])
    with caplog.at_level("WARNING", logger="orchestrator.agent.hub"):
        theirs = rig.start_payment(call.uuid, flow="globex_pay")
    nowhere = rig.start_payment(call.uuid, flow="no_such_flow")
    assert theirs.status_code == nowhere.status_code == 400
    assert theirs.json() == {"error": "invalid", "field": "flow",
                             "message": "no flow named 'globex_pay'"}
    assert nowhere.json() == dict(theirs.json(), message="no flow named 'no_such_flow'")
    assert refusals(rig, "acme") == 1          # the flow that exists, not the typo
    assert [r.getMessage() for r in caplog.records if r.name == "orchestrator.agent.hub"] == [
        "agent API: tenant acme asked for flow globex_pay, which is not its own (held by "
        "globex); refused"]
    assert len(rig.service.agent.registry) == 0
    assert call.channel.up and not call.record.transferred_to
    assert "pay_flow" not in call.channel.variables
    call.hangup()


def test_globex_starts_its_own_flow_and_not_acmes(rig):
    call, agent = rig.call([{"silence": 60}], tenant="globex", agent=None)
    refused = rig.start_payment(call.uuid, who="other", flow="card_payment")
    assert refused.status_code == 400 and refused.json()["field"] == "flow"
    assert refusals(rig, "globex") == 1
    started = rig.start_payment(call.uuid, who="other", flow="globex_pay")
    assert started.status_code == 201, started.text
    assert started.json()["tenant"] == "globex" and started.json()["flow"] == "globex_pay"
    call.hangup()


def test_acme_pays_through_the_flow_and_gateway_granted_to_it(rig):
    call, agent = rig.call(PAYING_CALLER)
    reply = rig.start_payment(call.uuid)             # card_payment, the API's default flow
    assert reply.status_code == 201, reply.text
    session = rig.wait_state(reply.json()["id"], "approved")
    assert session["tenant"] == "acme" and session["result"]["status"] == "approved"
    assert len(rig.sandbox.charges) == 1
    [payment] = [p for p in rig.service.store.list() if p["call_uuid"] == call.uuid]
    assert (payment["tenant"], payment["gateway"]) == ("acme", "sandbox")
    complete = rig.request("POST", "/sessions/%s/complete" % session["id"], "alice",
                           {"to": "extension", "extension": "900123456789", "context": "public"})
    assert complete.status_code == 403
    assert "(tenants.acme.destinations in the service config)" in complete.json()["message"]
    with gevent.Timeout(30, AssertionError("the webhook never came")):
        while not any(b'"approved"' in r["body"] for r in rig.receiver.requests):
            gevent.sleep(0.05)
