"""The shipped collections flow on a simulated call, with the sandbox CRM, the sandbox
gateway and the SMS sink: the caller found by number or by a keyed account, every invoice of
every line read, all paid with the canary card, a code texted and recorded; a CRM that is
down; a declined card."""
import json

import pytest

from orchestrator.webservices.sandbox_crm import OUTAGE_PHONE, SandboxCrm
from tests.support.canary import CODE, EXPIRY, PAN, traces
from tests.support.service import caller_script

ANA, UNKNOWN = "+34600111222", "+15551230000"
DECLINED = "4000000000000002"


@pytest.fixture
def crm():
    server = SandboxCrm(secret="crm-secret-of-sixteen-bytes", slow_seconds=5).start()
    yield server
    server.stop()


def card(number, first_prompt):
    return [{"wait_prompt": first_prompt}, {"press": number + "#"},
            {"wait_prompt": first_prompt + 1}, {"press": EXPIRY},
            {"wait_prompt": first_prompt + 2}, {"press": CODE}]


def collect(service_on_simulator, crm, caller, caller_number, flow="invoice_collection",
            variables=None):
    world = service_on_simulator({
        "flows": {"default": flow},
        "web_services": [{"name": "crm", "url": crm.url, "secret": "crm-secret-of-sixteen-bytes",
                          "read_timeout": 1.0, "max_attempts": 2, "backoff": 0.05}],
        "sms_providers": [{"name": "sms", "type": "sink"}]}, sandbox=True)
    call = world.switch.place_call(world.address, caller=caller_script(caller),
                                   caller_id_number=caller_number, variables=variables or {})
    result = world.finish(call, 90)
    return (result, list(world.service.sms_providers["sms"].messages), world.service.store.list(),
            world.service.metrics)


def heard(result):
    return [h.arg for h in result.record.heard]


def test_identified_by_number_every_invoice_read_all_paid_and_a_code_texted(service_on_simulator, crm,
                                                                             caplog):
    caller = [{"wait_prompt": 2}, {"press": "0"}, {"wait_prompt": 5}, {"press": "1"}] + card(PAN, 6)
    result, messages, rows, metrics = collect(service_on_simulator, crm, caller, ANA)
    said = heard(result)
    assert crm.requests[0]["body"] == {"phone": ANA}
    [row] = rows
    assert (row["status"], row["amount_minor"], row["reference"]) == ("approved", 2990 + 1500 + 3999, "C-1001"), said
    [message] = messages
    assert message.to == ANA and row["confirmation_code"] in message.text
    assert message.text == ("Payment of 84.89 EUR received with the card ending 1111. "
                            "Confirmation code: %s." % row["confirmation_code"])
    assert any(row["confirmation_code"] in arg for arg in said)
    for text in [message.text, json.dumps(rows), caplog.text, json.dumps(said)]:
        assert traces(text) == []
    sample = metrics.registry.get_sample_value
    assert sample("payivr_web_service_requests_total",
                  {"tenant": "default", "service": "crm", "outcome": "ok"}) == 1
    assert sample("payivr_sms_total", {"tenant": "default", "provider": "sms", "result": "sent"}) == 1


def test_the_whole_list_is_read_when_the_caller_waits(service_on_simulator, crm):
    caller = [{"wait_prompt": 30}, {"press": "2"}, {"hangup": {}}]
    result, _, _, metrics = collect(service_on_simulator, crm, caller, ANA)
    said = heard(result)[:28]       # one reading: three invoices of eight prompts, then "all"
    assert sum(arg.endswith("|Invoice") for arg in said) == 3, said
    assert any("29 euros and 90 cents" in arg for arg in said), said
    assert any("39 euros and 99 cents" in arg for arg in said)
    assert any("To pay them all" in arg for arg in said)
    assert any("84 euros and 89 cents" in arg for arg in said)


def test_not_found_by_number_then_found_by_a_keyed_account(service_on_simulator, crm):
    caller = [{"wait_prompt": 1}, {"press": "700123#"}, {"wait_prompt": 3}, {"press": "1"},
              {"wait_prompt": 6}, {"press": "1"}] + card(PAN, 7)
    result, messages, rows, metrics = collect(service_on_simulator, crm, caller, UNKNOWN)
    assert [r["body"] for r in crm.requests] == [{"phone": UNKNOWN}, {"account": "700123"}], (
        heard(result), result.outcome)
    [row] = rows
    assert (row["status"], row["amount_minor"], row["reference"]) == ("approved", 1250, "C-1002"), heard(result)
    assert len(messages) == 1


def test_a_crm_that_is_down_gets_an_apology_then_the_agent(service_on_simulator, crm):
    result, messages, rows, metrics = collect(service_on_simulator, crm, [], OUTAGE_PHONE,
                                     variables={"pay_agent": "2001"})
    said = heard(result)
    assert any("cannot reach your account" in arg for arg in said)
    assert result.record.transferred_to == "2001 XML default"
    assert rows == [] and messages == []
    assert len(crm.requests) == 2          # retried once (503), then the error branch
    assert metrics.registry.get_sample_value(
        "payivr_web_service_requests_total",
        {"tenant": "default", "service": "crm", "outcome": "error"}) == 1


def test_a_declined_card_then_another_card(service_on_simulator, crm):
    caller = ([{"wait_prompt": 2}, {"press": "0"}, {"wait_prompt": 5}, {"press": "1"}] + card(DECLINED, 6)
              + card(PAN, 13))
    result, messages, rows, metrics = collect(service_on_simulator, crm, caller, ANA)
    assert [r["status"] for r in rows] == ["declined", "approved"], heard(result)
    assert len(messages) == 1


def test_spanish(service_on_simulator, crm):
    caller = [{"wait_prompt": 30}, {"hangup": {}}]
    result, _, _, metrics = collect(service_on_simulator, crm, caller, ANA, flow="invoice_collection_es")
    said = heard(result)
    assert any("Factura" in arg for arg in said) and any("Para pagarlas todas" in arg for arg in said)
