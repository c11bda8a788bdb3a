"""What a step does with the call's tenant's view (``CallServices``): its gateways, where its
callers may go; and the static facts a tenant's flows are checked on before any call."""
import logging
import textwrap

from tests.engine.fake_channel import FakeChannel

from orchestrator.engine import FlowRunner, load_flow_text
from orchestrator.engine.services import CallServices
from orchestrator.engine.step_api import registered_kinds

PAYMENT = """
flow: x
vars: {amount: "1250", currency: EUR, reference: R-1}
steps:
  - answer: {}
  - collect_card: {on: {cancelled: out, too-many-failed-attempts: out}}
  - authorize: {gateway: globex_gw, on: {declined: out, error: out}}
  - id: out
    hangup: {}
"""


def run(body, services):
    flow = load_flow_text(textwrap.dedent(body).lstrip("\n"), "t.yaml")
    channel = FakeChannel()
    outcome = FlowRunner(flow, channel, log=logging.getLogger("test.flow"), tenant=services.tenant,
                         services=services).run()
    return outcome, channel


def test_a_gateway_withheld_from_the_tenant_ends_the_flow_before_anything_is_asked():
    refused = []
    services = CallServices(gateways={}, tenant="acme", withheld_gateways=frozenset({"globex_gw"}),
                            on_refusal=refused.append)
    outcome, channel = run(PAYMENT, services)
    assert outcome.result == "error"
    assert outcome.detail == "authorize: gateway 'globex_gw' is not granted to tenant acme (its gateways: none)"
    assert channel.calls == [] and refused == ["gateway"]


def test_a_gateway_nobody_defines_is_not_a_tenants_refusal():
    refused = []
    outcome, channel = run(PAYMENT, CallServices(gateways={}, tenant="acme", on_refusal=refused.append))
    assert outcome.detail == "authorize: no gateway named 'globex_gw' in the service config (known: none)"
    assert channel.calls == [] and refused == []


def test_a_transfer_the_tenant_may_not_make_is_refused_before_the_caller_moves():
    refused = []
    allowed = {("2001", "acme")}
    services = CallServices(tenant="acme", on_refusal=refused.append,
                            transfer_allowed=lambda extension, context: (extension, context) in allowed)
    body = """
        flow: x
        vars: {to: "%s"}
        steps:
          - transfer: {extension: "${to}", context: acme}
    """
    outcome, channel = run(body % "2001", services)
    assert outcome.result == "transferred" and channel.names() == ["transfer"]
    outcome, channel = run(body % "900123456789", services)
    assert outcome.result == "error" and channel.calls == []
    assert outcome.detail == "transfer to 900123456789 in context acme is not one of tenant acme's destinations"
    assert refused == ["destination"]


def test_transfer_back_refuses_an_extension_before_setting_or_playing_anything():
    services = CallServices(tenant="acme", transfer_allowed=lambda extension, context: False)
    outcome, channel = run("""
        flow: x
        steps:
          - transfer_back: {to: extension, extension: "5000", context: globex, announce: goodbye}
    """, services)
    assert outcome.result == "error" and channel.calls == []


def test_without_an_allow_list_a_transfer_goes_anywhere():
    outcome, channel = run("""
        flow: x
        steps:
          - transfer: {extension: "900123456789", context: public}
    """, CallServices(tenant="default"))
    assert outcome.result == "transferred"


def test_step_kinds_declare_the_gateways_and_destinations_they_reach():
    kinds = registered_kinds()
    assert kinds["authorize"].gateways({"gateway": "acme_gw"}) == [(("gateway",), "acme_gw")]
    assert kinds["transfer"].destinations({"extension": 1000, "context": "default"}) == [
        (("extension",), "1000", "default")]
    back = kinds["transfer_back"]
    assert back.destinations({"to": "queue", "queue": "30", "context": "q"}) == [(("queue",), "30", "q")]
    assert back.destinations({"to": "agent", "context": "default"}) == []
    assert kinds["play"].gateways({}) == [] and kinds["play"].destinations({}) == []
