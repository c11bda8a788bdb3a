"""Refused on the call, always: simulated calls of a carrier's tenants (tests/support/tenants.py)
through the service, each tenant on its own flows, gateway, catalog and destinations.

A call whose flow (by ``pay_flow`` or by number) is another tenant's reaches the dialplan
fallback with nothing run and nothing charged, a log line and the tenant's refusal counted; an
authorize whose gateway the tenant does not hold ends the call before any card is asked for,
even when the grant was withdrawn after the start-up check passed; a transfer outside the
tenant's destinations leaves the caller to the fallback, never at the destination.
"""
import dataclasses

import pytest

from orchestrator.payments.events import FieldStarted
from orchestrator.payments.sandbox import SandboxGateway

from tests.support.cards import CARD
from tests.support.service import SANDBOX_SERVER
from tests.support.tenants import ACME_AMOUNT_WORDS, PAYMENT_VARIABLES, carrier_site

PAYING = [{"wait_prompt": 3}, {"press": CARD["visa"] + "#"}, {"wait_prompt": 4},
          {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]
HANGS_UP = [{"wait_prompt": 1}, {"hangup": {}}]
CONFIGURED = {"acme", "globex", "default", "unknown"}


@pytest.fixture
def sandbox():
    gateway = SandboxGateway(**SANDBOX_SERVER).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def world(service_on_simulator, sandbox, tmp_path):
    return service_on_simulator(carrier_site(tmp_path / "site", sandbox.url))


def calls_total(world, tenant, flow, outcome):
    return world.metric("payivr_calls_total", tenant=tenant, flow=flow, outcome=outcome)


def refusals(world, tenant, resource):
    return world.metric("payivr_tenant_refusals_total", tenant=tenant, resource=resource)


def payments_of(world, result):
    return [row for row in world.service.store.list() if row["call_uuid"] == result.record.uuid]


def test_a_tenants_call_pays_through_its_own_gateway_and_hears_its_own_catalog(world, sandbox):
    result = world.run_call(PAYING, dict(PAYMENT_VARIABLES, pay_tenant="acme", pay_flow="acme_pay"))
    [payment] = payments_of(world, result)
    assert (payment["tenant"], payment["gateway"], payment["status"]) == ("acme", "acme_gw", "approved")
    assert len(sandbox.charges) == 1
    heard = [h.arg for h in result.record.heard]
    assert "flite|kal|%s" % ACME_AMOUNT_WORDS in heard
    assert world.metric("payivr_payments_total", tenant="acme", gateway="acme_gw",
                        result="approved") == 1
    # the default tenant's card_payment speaks the shipped catalog, charging its own gateway
    shipped = world.run_call(PAYING, dict(PAYMENT_VARIABLES, pay_flow="card_payment"))
    assert "flite|kal|The amount due is" in [h.arg for h in shipped.record.heard]
    [payment] = payments_of(world, shipped)
    assert (payment["tenant"], payment["gateway"], payment["status"]) == ("default", "sandbox", "approved")


@pytest.mark.parametrize("variables,destination,tenant,flow", [
    ({"pay_tenant": "acme", "pay_flow": "globex_pay"}, "1000", "acme", "globex_pay"),
    ({"pay_tenant": "acme"}, "7100", "acme", "globex_pay"),          # the site's number map
    ({"pay_flow": "acme_pay"}, "1000", "default", "acme_pay"),       # no pay_tenant: default
    ({"pay_tenant": "globex", "pay_flow": "card_payment"}, "1000", "globex", "card_payment"),
], ids=["pay_flow", "by-number", "default-tenant", "default-tenants-flow"])
def test_a_call_whose_flow_is_another_tenants_goes_to_the_fallback_with_nothing_run(
        world, sandbox, caplog, variables, destination, tenant, flow):
    with caplog.at_level("WARNING", logger="orchestrator.service"):
        result = world.run_call(PAYING, dict(PAYMENT_VARIABLES, **variables), destination=destination)
    assert result.flow is None and result.record.fallback_reached
    assert not result.record.answered and result.record.heard == []
    assert payments_of(world, result) == [] and sandbox.charges == []
    assert calls_total(world, tenant, flow, "wrong-tenant") == 1
    assert refusals(world, tenant, "flow") == 1
    how = "pay_flow" if "pay_flow" in variables else "destination %s" % destination
    holder = {"globex_pay": "globex", "acme_pay": "acme",
              "card_payment": "the default tenant"}[flow]
    described = "the default tenant" if tenant == "default" else "tenant %s" % tenant
    assert [r.getMessage() for r in caplog.records if "returning the call" in r.getMessage()] == [
        "flow %s (chosen by %s) is not one of %s's flows (held by %s); returning the call to the "
        "dialplan" % (flow, how, described, holder)]


def test_the_same_number_runs_the_flow_for_the_tenant_that_holds_it(world):
    result = world.run_call(HANGS_UP, dict(PAYMENT_VARIABLES, pay_tenant="globex"), destination="7100")
    assert result.flow == "globex_pay" and result.outcome.result == "caller-hung-up"
    assert refusals(world, "globex", "flow") == 0


def test_a_tenant_nobody_configured_runs_nothing_and_adds_no_label(world):
    result = world.run_call(PAYING, dict(PAYMENT_VARIABLES, pay_tenant="evil-corp", pay_flow="acme_pay"))
    assert result.flow is None and result.record.fallback_reached
    assert refusals(world, "unknown", "flow") == 1
    tenants = {sample.labels["tenant"] for metric in world.metrics.registry.collect()
               for sample in metric.samples if "tenant" in sample.labels}
    assert tenants <= CONFIGURED and "unknown" in tenants


def test_an_authorize_whose_gateway_is_not_granted_fails_before_any_card_is_asked_for(world, sandbox):
    """The run-time check does not lean on the start-up one: acme's grant is withdrawn from
    the running service (as a config that changed under it would), and its payment flow's
    call ends at the start, before a prompt, with the refusal counted."""
    service = world.service
    service.tenancy.plans["acme"] = dataclasses.replace(service.tenancy.plans["acme"],
                                                        gateways=frozenset())
    events = world.record_payment_events()
    result = world.run_call(PAYING, dict(PAYMENT_VARIABLES, pay_tenant="acme", pay_flow="acme_pay"))
    assert result.flow == "acme_pay" and result.outcome.result == "error"
    assert "gateway 'acme_gw' is not granted to tenant acme" in result.outcome.detail
    assert result.record.heard == [] and result.record.fallback_reached
    assert [e for e in events if isinstance(e, FieldStarted)] == []
    assert payments_of(world, result) == [] and sandbox.charges == []
    assert refusals(world, "acme", "gateway") == 1


def test_a_transfer_outside_the_tenants_destinations_is_refused_on_the_call(world):
    allowed = world.run_call([], {"pay_tenant": "acme", "pay_flow": "acme_menu", "pay_target": "2001"})
    assert allowed.record.transferred_to == "2001 XML acme"
    refused = world.run_call([], {"pay_tenant": "acme", "pay_flow": "acme_menu",
                                  "pay_target": "900123456789"})
    assert refused.record.transferred_to is None and refused.record.fallback_reached
    assert refused.outcome.result == "error"
    assert refused.outcome.detail == ("transfer to 900123456789 in context acme is not one of "
                                      "tenant acme's destinations")
    assert refusals(world, "acme", "destination") == 1


def test_the_service_takes_calls_after_every_refusal(world):
    for variables in ({"pay_tenant": "acme", "pay_flow": "globex_pay"},
                      {"pay_tenant": "acme", "pay_flow": "acme_menu", "pay_target": "666"}):
        world.run_call([], variables)
    after = world.run_call([], {"pay_tenant": "acme", "pay_flow": "acme_menu", "pay_target": "2001"})
    assert after.record.transferred_to == "2001 XML acme"
