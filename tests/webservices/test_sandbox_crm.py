"""The sandbox CRM: who it knows, and what it refuses."""
import json

import pytest
import requests

from orchestrator.payments import signing
from orchestrator.webservices.sandbox_crm import OUTAGE_PHONE, SLOW_PHONE, SandboxCrm

SECRET = "crm-secret-of-sixteen-bytes"


@pytest.fixture
def crm():
    server = SandboxCrm(secret=SECRET, slow_seconds=2.0).start()
    yield server
    server.stop()


def ask(crm, body, secret=SECRET, timeout=10):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = signing.signed_headers(secret, data)
    return requests.post(crm.url + "/customers/lookup", data=data, headers=headers, timeout=timeout)


def test_a_customer_is_found_by_phone_or_account_with_every_line_and_invoice(crm):
    by_phone = ask(crm, {"phone": "+34600111222"}).json()
    assert by_phone["id"] == "C-1001" and len(by_phone["lines"]) == 2
    assert sum(len(line["invoices"]) for line in by_phone["lines"]) == 3
    assert "phone" not in by_phone and "account" not in by_phone
    assert ask(crm, {"account": "700123"}).json()["id"] == "C-1002"


def test_nobody_faults_and_bad_requests(crm):
    assert ask(crm, {"phone": "+10000000000"}).status_code == 404
    assert ask(crm, {"phone": OUTAGE_PHONE}).status_code == 503
    assert ask(crm, {"phone": "+34600111222"}, secret="another-secret-entirely").status_code == 401
    assert ask(crm, b"[1, 2]").status_code == 400
    assert ask(crm, b'{"phone": "' + b"1" * 5000 + b'"}').status_code == 413
    with pytest.raises(requests.exceptions.ReadTimeout):
        ask(crm, {"phone": SLOW_PHONE}, timeout=0.5)
