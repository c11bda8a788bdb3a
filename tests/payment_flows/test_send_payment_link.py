"""send_payment_link's other outcomes on a simulated call: a recipient that is not a number,
details that break a rule or a payment_links entry that is not configured record nothing; a
hosted page the gateway cannot make, or an SMS provider that cannot be reached, record the
payment ``error`` (nobody can pay it) and take ``on.error``; the link's expiry is recorded."""
import time

import pytest

from orchestrator.engine import FlowLibrary, load_flow
from orchestrator.store.links import PaymentLinks
from tests.support.postgres import free_port

LINK_SECRET = "link-secret-of-sixteen"
FLOW = """
flow: link_only
vars: {amount: "4250", currency: EUR, reference: C-9}
steps:
  - answer: {}
  - send_payment_link: {link: %s, provider: sms, details: %s, on: {error: failed}}
  - transfer_back: {to: goodbye}
  - id: failed
    hangup: {cause: CALL_REJECTED}
"""


def run(service_on_simulator, links, sms=None, link="paylink", details='{invoices: "2026120001"}',
        caller_id_number="+34600111222"):
    flow = load_flow(FLOW % (link, details), source_name="link.yaml")
    world = service_on_simulator({"flows": {"default": flow.name},
                                  "sms_providers": [sms or {"name": "sms", "type": "sink"}],
                                  "http": {"enabled": True, "port": 0}, "payment_links": links},
                                 library=FlowLibrary({flow.name: flow}))
    call = world.switch.place_call(world.address, caller=None, caller_id_number=caller_id_number)
    result = world.finish(call, 60)
    return world, result


TEMPLATE = {"paylink": {"type": "template", "url": "https://pay.example/{token}", "secret": LINK_SECRET,
                        "expires_after": 600}}


def test_sent_records_the_link_with_its_expiry(service_on_simulator):
    before = time.time()
    world, result = run(service_on_simulator, TEMPLATE)
    assert result.outcome.step != "failed", result.outcome
    [row] = world.service.store.list()
    [message] = world.service.sms_providers["sms"].messages
    token = message.text.split("https://pay.example/")[1].split()[0]
    found = PaymentLinks(world.service.store).find(token)
    assert found.payment["id"] == row["id"] and before + 600 <= found.expires <= time.time() + 600
    assert row["reference"] == "C-9" and row["tenant"] == "default"


@pytest.mark.parametrize("case", ["not a number", "card-like details", "no such link"])
def test_nothing_is_recorded_when_the_link_cannot_be_offered(service_on_simulator, case):
    options = {"not a number": {"caller_id_number": "anonymous"},
               "card-like details": {"details": '{invoices: "4111111111111111"}'},
               "no such link": {"link": "elsewhere"}}[case]
    world, result = run(service_on_simulator, TEMPLATE, **options)
    assert result.outcome.step == "failed", result.outcome
    assert world.service.store.list() == [] and list(world.service.sms_providers["sms"].messages) == []


def test_a_page_the_gateway_cannot_make_records_an_error(service_on_simulator):
    links = {"paylink": {"type": "hosted_page", "url": "http://127.0.0.1:%d" % free_port(),
                         "secret": LINK_SECRET, "connect_timeout": 1, "read_timeout": 1}}
    world, result = run(service_on_simulator, links)
    assert result.outcome.step == "failed", result.outcome
    [row] = world.service.store.list()
    assert (row["status"], row["error_kind"]) == ("error", "link_not_made")
    assert list(world.service.sms_providers["sms"].messages) == []


def test_an_sms_that_cannot_be_sent_records_an_error(service_on_simulator):
    sms = {"name": "sms", "type": "http", "url": "http://127.0.0.1:%d/sms" % free_port(),
           "connect_timeout": 1, "read_timeout": 1}
    world, result = run(service_on_simulator, TEMPLATE, sms=sms)
    assert result.outcome.step == "failed", result.outcome
    [row] = world.service.store.list()
    assert (row["status"], row["error_kind"]) == ("error", "link_not_sent")
    assert world.metric("payivr_sms_total", tenant="default", provider="sms", result="error") == 1
