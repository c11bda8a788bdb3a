"""The config schema fragment, the factory, and logs that never carry a card digit."""
import io
import logging
import re

import jsonschema
import pytest

from orchestrator.logs import setup_logging
from orchestrator.payments.gateways import GATEWAYS_SCHEMA, build_gateway
from orchestrator.payments.sandbox import SandboxGateway
from tests.support.cards import make_card

GOOD = [
    {"name": "sandbox", "type": "sandbox", "url": "http://127.0.0.1:8089"},
    {"name": "acme", "type": "http", "url": "https://pay.acme.test/v1/auth",
     "secret": "0123456789abcdef", "verify": "/etc/ssl/acme.pem", "read_timeout": 30,
     "request_fields": {"number": "card.pan"},
     "response": {"status": "state", "approved": ["OK"]}},
    {"name": "redsys", "type": "redsys", "merchant_code": "999008881", "terminal": 1,
     "secret_key": "sq7HjrUOBfKmC576ILgskD5srU870gJ7", "environment": "test"},
]


def test_schema_accepts_a_good_list_and_builds_each():
    jsonschema.Draft7Validator.check_schema(GATEWAYS_SCHEMA)
    jsonschema.validate(GOOD, GATEWAYS_SCHEMA)
    for item in GOOD:
        gateway = build_gateway(item["name"], {"gateways": GOOD})
        assert gateway.name == item["name"] and gateway.type_name == item["type"]


@pytest.mark.parametrize("bad", [
    [{"name": "x", "type": "paypal"}],
    [{"name": "x", "type": "http", "url": "https://a.test"}],               # no secret
    [{"name": "x", "type": "redsys", "merchant_code": "1", "terminal": 1}],  # no key
    [{"name": "x", "type": "sandbox", "url": "http://127.0.0.1:1", "merchant_code": "1"}],
    [{"name": "x", "type": "http", "url": "https://a.test", "secret": "0123456789abcdef",
      "verify": False}],
    [{"type": "sandbox", "url": "http://127.0.0.1:1"}],
])
def test_schema_rejects(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, GATEWAYS_SCHEMA)


def test_no_digit_reaches_the_log():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root.handlers[:] = [handler]     # no redaction filter: the raw text must already be clean
    root.setLevel(logging.DEBUG)
    try:
        with SandboxGateway(slow_seconds=0.1, hang_seconds=1) as sandbox:
            gateway = build_gateway("s", {"type": "sandbox", "url": sandbox.url,
                                          "read_timeout": 0.3, "backoff": 0.01,
                                          "status_interval": 0.05})
            numbers = ["4111111111111111", "4000000000009995", "4000000000005001",
                       "4000000000000507"]
            for index, number in enumerate(numbers):
                gateway.authorize(1250, "EUR", "r", make_card(number, expiry="0931", code="846"),
                                  "key-log-%05d" % index)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    output = stream.getvalue()
    assert "authorize gateway=s" in output and "411111******1111" in output
    for number in numbers:
        assert number not in output and number[6:12] not in output
    # what the run makes at random may hold any short digit run: the sandbox's port, its ids
    made_at_random = re.compile(r"127\.0\.0\.1:\d+|sbx_[0-9a-f]+")
    assert made_at_random.search(output)          # the pattern matches what it is meant to
    searched = made_at_random.sub("<random>", output)
    assert "846" not in searched and "0931" not in searched and "3109" not in searched


def test_logs_module_still_redacts_on_top():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("INFO", "logfmt", stream)
        logging.getLogger("x").info("card %s", make_card())
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "411111******1111" in stream.getvalue()
