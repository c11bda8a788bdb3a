"""The sandbox CRM as a status callback receiver, over real HTTP on loopback: it checks the
signature, reactivates the lines of the invoices a payment paid, once per payment whatever
is re-sent, and ignores what does not concern it."""
import json
import time
import uuid

import pytest
import requests

from orchestrator.payments import signing
from orchestrator.webservices import crm_notices
from orchestrator.webservices.sandbox_crm import SandboxCrm
from tests.support.canary import traces

SECRET = "crm-secret-of-sixteen-bytes"
PAYMENT = "6f0c1d9e-3b7a-4c55-9a4e-2f1b8d7c6a50"


@pytest.fixture
def crm():
    server = SandboxCrm(secret=SECRET).start()
    yield server
    server.stop()


def result(payment_id=PAYMENT, status="approved", details=None, event_id=None):
    data = {"status": status, "payment_id": payment_id, "amount_minor": 4490, "currency": "EUR",
            "reference": "C-1001", "card": "411111******1111"}
    if details is not False:
        data["details"] = details or {"invoices": "2026110001,2026120002", "customer": "C-1001"}
    return {"type": "payment.result", "event_id": event_id or str(uuid.uuid4()), "seq": 1,
            "tenant": "default", "created": time.time(), "data": data}


def send(crm, body, secret=SECRET, now=None):
    data = body if isinstance(body, bytes) else json.dumps(body, sort_keys=True).encode()
    headers = signing.signed_headers(secret, data, now=now)
    return requests.post(crm.callbacks_url, data=data, headers=headers, timeout=10)


def test_a_paid_result_reactivates_the_lines_holding_its_invoices(crm):
    reply = send(crm, result())
    assert reply.status_code == 200 and reply.json() == {"reactivated": ["600111222", "910000000"]}
    [done] = crm.notices.reactivations
    assert (done["customer"], done["invoices"], done["payment_id"]) == (
        "C-1001", ["2026110001", "2026120002"], PAYMENT)
    assert crm.notices.paid == {"2026110001": PAYMENT, "2026120002": PAYMENT}
    assert crm.notices.reactivated_lines == {"600111222": PAYMENT, "910000000": PAYMENT}


def test_the_same_event_or_another_event_of_the_same_payment_reactivates_nothing_more(crm):
    first = result()
    assert send(crm, first).json()["reactivated"]
    assert send(crm, first).json() == {"duplicate": "event"}
    assert send(crm, result()).json() == {"duplicate": "payment"}     # e.g. a reconciled result
    assert len(crm.notices.reactivations) == 1
    assert [a["status"] for a in crm.notices.answered] == [200, 200, 200]


def test_an_unsigned_stale_or_wrongly_signed_callback_is_refused_and_does_nothing(crm):
    assert send(crm, result(), secret="another-secret-entirely").status_code == 401
    assert send(crm, result(), now=time.time() - 3600).status_code == 401
    unsigned = requests.post(crm.callbacks_url, data=json.dumps(result()), timeout=10)
    assert unsigned.status_code == 401
    assert crm.notices.reactivations == []


def test_what_is_not_a_paid_result_naming_its_invoices_is_answered_and_ignored(crm):
    progress = dict(result(), type="payment.field.started", data={"field": "number"})
    assert send(crm, progress).json() == {"ignored": True}
    assert send(crm, result(status="declined")).json() == {"ignored": True}
    assert send(crm, result(details=False)).json()["ignored"]               # a card payment
    withheld = result()
    withheld["data"]["details"] = "withheld"
    assert send(crm, withheld).json()["ignored"]
    assert send(crm, result(details={"invoices": "2026110001", "customer": "C-9"})).json()["ignored"]
    assert send(crm, b"[1]").status_code == 400
    assert send(crm, b"x" * (crm_notices.MAX_BODY + 1)).status_code == 413
    assert crm.notices.reactivations == []


def test_an_outage_and_a_lost_answer_leave_one_reactivation(crm):
    crm.notices.fail_results = [503]
    crm.notices.lose_results = 1
    body = result()
    assert send(crm, body).status_code == 503 and crm.notices.reactivations == []   # down
    assert send(crm, body).status_code == 503 and len(crm.notices.reactivations) == 1  # lost
    assert send(crm, body).json() == {"duplicate": "event"}
    assert len(crm.notices.reactivations) == 1


def test_what_it_remembers_is_bounded_the_oldest_forgotten():
    notices = crm_notices.PaymentNotices([], SECRET, remembered=3)
    for number in range(5):
        notices._remember(notices._events, "e%d" % number)
    assert list(notices._events) == ["e2", "e3", "e4"]


def test_nothing_it_keeps_holds_a_card_digit(crm):
    send(crm, result())
    send(crm, result(details={"invoices": "4111111111111111", "customer": "C-1001"},
                     payment_id=str(uuid.uuid4())))
    kept = json.dumps([crm.notices.reactivations, crm.notices.answered, crm.notices.paid,
                       crm.notices.reactivated_lines])
    assert traces(kept) == [] and len(crm.notices.reactivations) == 1
