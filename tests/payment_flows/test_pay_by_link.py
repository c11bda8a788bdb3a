"""Pay by link on the shipped collections flows, end to end on loopback: Ana chooses her
invoices, presses 2 for a link, is texted the sandbox gateway's hosted page (made by a signed
gateway call), the page is paid, and the sandbox's signed webhook to the service's HTTP server
approves the payment once, re-sent or not; the CRM is told once by the payment.result status
callback, with the invoices. Each journal backend. Nothing in the text, the store, the
callbacks or the log holds a card digit, nor anything card-like in the text."""
import json
import re

import pytest
import requests

from orchestrator.callbacks.outbox import DELIVERED, Outbox
from orchestrator.card_numbers import looks_like_card
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.store.links import PaymentLinks
from orchestrator.webservices.sandbox_crm import SandboxCrm
from tests.support.canary import traces
from tests.support.service import SANDBOX_CLIENT, caller_script
from tests.support.waiting import eventually

SECRET = "crm-secret-of-sixteen-bytes"
LINK_SECRET = "link-secret-of-sixteen"
ANA = "+34600111222"
ANA_INVOICES = ["2026110001", "2026120001", "2026120002"]
# all invoices, then 2: a link by SMS
BY_LINK = [{"wait_prompt": 2}, {"press": "0"}, {"wait_prompt": 5}, {"press": "2"}]


@pytest.fixture
def crm():
    server = SandboxCrm(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox():
    """The sandbox gateway: its cards (the flow's authorize) and its hosted payment pages."""
    gateway = SandboxGateway(link_secret=LINK_SECRET).start()
    yield gateway
    gateway.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, tmp_path):
    if request.param == "sqlite":
        return {"path": str(tmp_path / "links.sqlite")}
    return {"url": request.getfixturevalue("postgres_schema").url}


def link_call(service_on_simulator, crm, sandbox, store_settings, flow="invoice_collection",
              caller=BY_LINK, link_type="hosted_page"):
    url = sandbox.url if link_type == "hosted_page" else "https://pay.example/p/{token}"
    world = service_on_simulator({
        "gateways": [dict(SANDBOX_CLIENT, name="sandbox", type="sandbox", url=sandbox.url)],
        "flows": {"default": flow}, "store": store_settings,
        "http": {"enabled": True, "port": 0},
        "web_services": [{"name": "crm", "url": crm.url, "secret": SECRET, "read_timeout": 1.0,
                          "max_attempts": 2, "backoff": 0.05}],
        "sms_providers": [{"name": "sms", "type": "sink"}],
        "payment_links": {"paylink": {"type": link_type, "secret": LINK_SECRET, "expires_after": 900,
                                      "url": url}},
        "agent_api": {"webhooks": {"default": {
            "url": crm.callbacks_url, "secret": SECRET, "timeout": 2,
            "backoff_base": 0.05, "backoff_cap": 0.5}}}},
    )
    host, port = world.http_address[:2]
    sandbox.links.webhook_url = "http://%s:%d/webhooks/links/paylink" % (host, port)
    call = world.switch.place_call(world.address, caller=caller_script(caller), caller_id_number=ANA)
    result = world.finish(call, 90)
    return world, result


def told(world, crm):
    rows = [r for r in Outbox(world.service.store.backend).rows("default") if r.type == "payment.result"]
    return rows, [a for a in crm.notices.answered if a["type"] == "payment.result"]


def outputs(world, crm, caplog, message):
    bodies = [r.body.decode("utf-8") for r in Outbox(world.service.store.backend).rows("default")]
    return bodies + [message.text, json.dumps(world.service.store.list()), caplog.text,
                     json.dumps([crm.notices.reactivations, crm.notices.answered, crm.requests])]


@pytest.mark.parametrize("flow", ["invoice_collection", "invoice_collection_es"])
def test_a_link_texted_paid_on_the_hosted_page_and_the_crm_told_once(
        service_on_simulator, crm, sandbox, store_settings, flow, caplog):
    world, result = link_call(service_on_simulator, crm, sandbox, store_settings, flow)
    heard = [h.arg for h in result.record.heard]
    [row] = world.service.store.list()
    assert (row["status"], row["amount_minor"], row["card"]) == ("link_sent", 2990 + 1500 + 3999, None), heard
    assert json.loads(row["details"]) == {"customer": "C-1001", "invoices": ",".join(ANA_INVOICES)}
    [message] = world.service.sms_providers["sms"].messages
    [url] = re.findall(r"http://\S+/pay/[a-z]+", message.text)
    assert message.to == ANA and "84.89 EUR" in message.text
    assert any(("payment link" in arg) or ("enlace" in arg) for arg in heard)
    assert told(world, crm) == ([], [])            # nothing settled yet: nobody told

    for _ in range(3):                             # paid, and the webhook re-sent twice
        assert requests.post(url, timeout=10).json() == {"status": "paid", "webhook": 200}
    paid = world.service.store.get(row["id"])
    assert paid["status"] == "approved" and paid["auth_code"] == sandbox.links.pages[url.rsplit("/", 1)[1]].auth_code
    eventually(lambda: [r.state for r in told(world, crm)[0]] == [DELIVERED], timeout=30,
               what="the payment.result delivered")
    [answered] = told(world, crm)[1]
    assert answered["status"] == 200
    [done] = crm.notices.reactivations
    assert (done["payment_id"], done["invoices"], done["amount_minor"]) == (row["id"], ANA_INVOICES, 8489)
    assert world.metric("payivr_payment_link_webhooks_total", link="paylink", code="200") == 3
    for text in outputs(world, crm, caplog, message):
        assert traces(text) == []
    assert not looks_like_card(message.text)
    assert url.rsplit("/", 1)[1] not in caplog.text


def test_a_template_link_is_texted_with_its_token(service_on_simulator, crm, sandbox, store_settings):
    world, result = link_call(service_on_simulator, crm, sandbox, store_settings, link_type="template")
    [row] = world.service.store.list()
    [message] = world.service.sms_providers["sms"].messages
    [token] = re.findall(r"https://pay\.example/p/([A-Za-z]{32})", message.text)
    assert PaymentLinks(world.service.store).find(token).payment["id"] == row["id"]
