"""The CRM is told of each collections payment, exactly once: the shipped collections flow
pays Ana's invoices on a simulated call, and the sandbox CRM, a real HTTP server on loopback,
receives the payment's signed ``payment.result`` status callback from the outbox, with the
invoices in ``data.details``, and reactivates their lines once, whether its first answer was
a 503, its 2xx was lost, or it was down for a while. No body and nothing the CRM keeps holds
a card digit."""
import json

import pytest

from orchestrator.callbacks.outbox import DELIVERED, Outbox
from orchestrator.webservices.sandbox_crm import SandboxCrm
from tests.support.canary import CODE, EXPIRY, PAN, traces
from tests.support.service import caller_script
from tests.support.waiting import eventually

SECRET = "crm-secret-of-sixteen-bytes"
ANA = "+34600111222"
ANA_INVOICES = ["2026110001", "2026120001", "2026120002"]
PAY_ALL = [{"wait_prompt": 2}, {"press": "0"}, {"wait_prompt": 5}, {"press": "1"},
           {"wait_prompt": 6}, {"press": PAN + "#"}, {"wait_prompt": 7}, {"press": EXPIRY},
           {"wait_prompt": 8}, {"press": CODE}]


@pytest.fixture
def crm():
    server = SandboxCrm(secret=SECRET).start()
    yield server
    server.stop()


def pay_all(service_on_simulator, crm, receiver=None, flow="invoice_collection"):
    """Ana pays all her invoices; the default tenant's callbacks go to ``receiver`` (the CRM)."""
    world = service_on_simulator({
        "flows": {"default": flow},
        "web_services": [{"name": "crm", "url": crm.url, "secret": SECRET, "read_timeout": 1.0,
                          "max_attempts": 2, "backoff": 0.05}],
        "sms_providers": [{"name": "sms", "type": "sink"}],
        "agent_api": {"webhooks": {"default": {
            "url": (receiver or crm).callbacks_url, "secret": SECRET, "timeout": 2,
            "backoff_base": 0.05, "backoff_cap": 0.5}}}}, sandbox=True)
    call = world.switch.place_call(world.address, caller=caller_script(PAY_ALL),
                                   caller_id_number=ANA)
    result = world.finish(call, 90)
    [row] = world.service.store.list()
    assert row["status"] == "approved", (result.outcome, [h.arg for h in result.record.heard])
    return world, row


def results_answered(crm):
    return [a for a in crm.notices.answered if a["type"] == "payment.result"]


def delivered(world, row):
    rows = [r for r in Outbox(world.service.store.backend).rows("default")
            if r.type == "payment.result" and json.loads(r.body)["data"]["payment_id"] == row["id"]]
    return len(rows) == 1 and rows[0].state == DELIVERED


def nothing_holds_the_card(world, crm):
    bodies = [r.body.decode("utf-8") for r in Outbox(world.service.store.backend).rows("default")]
    kept = json.dumps([crm.notices.reactivations, crm.notices.answered, crm.notices.paid,
                       crm.notices.reactivated_lines, crm.requests])
    return [found for text in bodies + [kept, json.dumps(world.service.store.list())]
            for found in traces(text)]


@pytest.mark.parametrize("flow", ["invoice_collection", "invoice_collection_es"])
def test_a_paid_call_tells_the_crm_once_signed_with_its_invoices(service_on_simulator, crm, flow):
    world, row = pay_all(service_on_simulator, crm, flow=flow)
    assert json.loads(row["details"]) == {"customer": "C-1001", "invoices": ",".join(ANA_INVOICES)}
    eventually(lambda: delivered(world, row), timeout=30, what="the payment.result delivered")
    [answered] = results_answered(crm)
    assert answered["status"] == 200 and answered["answer"] == {
        "reactivated": ["600111222", "910000000"]}
    [done] = crm.notices.reactivations
    assert (done["payment_id"], done["customer"], done["invoices"], done["amount_minor"]) == (
        row["id"], "C-1001", ANA_INVOICES, 2990 + 1500 + 3999)
    assert all(a["status"] != 401 for a in crm.notices.answered)      # every callback signed
    assert nothing_holds_the_card(world, crm) == []


@pytest.mark.parametrize("fault", ["a 503 first", "its 2xx lost"])
def test_a_re_sent_callback_reactivates_nothing_twice(service_on_simulator, crm, fault):
    if fault == "a 503 first":
        crm.notices.fail_results = [503]
    else:
        crm.notices.lose_results = 1          # reactivated, then answered 503: sent again
    world, row = pay_all(service_on_simulator, crm)
    eventually(lambda: delivered(world, row), timeout=30, what="the payment.result delivered")
    answered = results_answered(crm)
    assert [a["status"] for a in answered] == [503, 200]
    assert len({a["event_id"] for a in answered}) == 1                  # the same event
    assert len(crm.notices.reactivations) == 1
    assert crm.notices.reactivations[0]["invoices"] == ANA_INVOICES
    assert (answered[-1]["answer"] == {"duplicate": "event"}) == (fault == "its 2xx lost")
    assert nothing_holds_the_card(world, crm) == []


def test_a_crm_down_for_a_while_is_told_later_from_the_outbox(service_on_simulator, crm):
    receiver = SandboxCrm(secret=SECRET)
    receiver.start()
    receiver.stop()                           # its port refuses connections for now
    try:
        world, row = pay_all(service_on_simulator, crm, receiver=receiver)
        eventually(lambda: world.metric("payivr_outbox_retries_total", tenant="default") >= 2,
                   timeout=30, what="retries while the CRM is down")
        assert not delivered(world, row) and receiver.notices.reactivations == []
        receiver.start()                      # back, on the same port
        eventually(lambda: delivered(world, row), timeout=30, what="the payment.result delivered")
        [done] = receiver.notices.reactivations
        assert (done["payment_id"], done["invoices"]) == (row["id"], ANA_INVOICES)
        assert len(results_answered(receiver)) == 1
        assert nothing_holds_the_card(world, receiver) == []
    finally:
        receiver.stop()
