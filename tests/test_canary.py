"""The canary: a card paid with 4111111111111111 and code 737 leaves no trace anywhere.

Everything a run produces is searched: the service's log at DEBUG, stdout and stderr, the
payment events it emitted, the /metrics page, the payment store file, and the simulator's wire
transcript and events. Nothing may hold the number, any run of seven or more of its digits,
or the security code beside a field name.
"""
import io
import logging
import os
import re
import subprocess
import sys

import pytest

from orchestrator.esl import channel as channel_module
from orchestrator.logs import setup_logging
from orchestrator.payments.events import FieldAccepted
from orchestrator.simulator import render_timeline
from tests.support.canary import CODE, PAN, traces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYMENT = ["--var", "pay_amount=1250", "--var", "pay_currency=EUR", "--var", "pay_reference=INV-1001"]
CALLER = [{"wait_prompt": 3}, {"press": PAN + "#"}, {"wait_prompt": 4}, {"press": "1230"},
          {"wait_prompt": 5}, {"press": CODE}]


def test_the_search_finds_what_it_looks_for():
    assert traces("card=4111111111111111")
    assert traces("pan 4111 1111 1111 1111")
    assert traces("x 1111111 y")
    assert traces("security_code=737")
    assert traces('"cvv": "737"')
    assert not traces("amount 1250 EUR, card visa 411111******1111, code 4737X")


def read_all(directory):
    texts = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as handle:
            texts[name] = handle.read().decode("latin-1")
    return texts


def test_a_paid_call_leaves_no_card_digit_anywhere(tmp_path):
    caller = tmp_path / "caller.yaml"
    caller.write_text("steps:\n" + "".join(
        "  - %s: %r\n" % next(iter(step.items())) for step in CALLER))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "simulate", "flows/card_payment.yaml",
         "--caller", str(caller), *PAYMENT, "--log-level", "DEBUG", "--artifacts", str(artifacts)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # the payment really went through with these digits: the sandbox approved a Visa ending 1111
    assert re.search(r"payment \S+: approved 1250 EUR visa 411111\*{6}1111", result.stdout)
    assert "level=debug" in result.stderr  # the log really ran at DEBUG
    outputs = dict(read_all(artifacts), stdout=result.stdout, stderr=result.stderr)
    assert set(outputs) >= {"payments.sqlite", "wire.txt", "switch-events.jsonl",
                            "payment-events.jsonl", "metrics.txt", "stdout", "stderr"}
    assert "payivr_" in outputs["metrics.txt"]
    for name, text in outputs.items():
        assert traces(text) == [], name


@pytest.fixture
def captured_log():
    stream = io.StringIO()
    handler = setup_logging("DEBUG", "logfmt", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_a_handler_raising_mid_entry_leaks_nothing(service_on_simulator, monkeypatch, captured_log):
    original = channel_module.Channel._on_message

    def raising_listener(self, message):
        original(self, message)
        if message.headers.get("Application") == "play_and_get_digits" and \
                message.event_name == "CHANNEL_EXECUTE_COMPLETE":
            raise RuntimeError("listener bug while the completion still holds the digits")

    monkeypatch.setattr(channel_module.Channel, "_on_message", raising_listener)
    events = []

    def raising_watcher(call, event):
        events.append(event)
        if isinstance(event, FieldAccepted) and event.field == "expiry":
            raise RuntimeError("watcher bug mid-entry")

    world = service_on_simulator(sandbox=True)
    store = world.store_path
    world.service.events.subscribe(raising_watcher)
    result = world.run_call(CALLER, {"pay_flow": "card_payment", "pay_amount": "1250",
                                     "pay_currency": "EUR", "pay_reference": "INV-1001"}, timeout=60)
    charges = world.sandbox.charges
    world.stop()
    log = captured_log.getvalue()
    assert "RuntimeError" in log                       # the watcher's failure is logged
    assert result.outcome.result != "error"            # and never reaches the call:
    assert len(charges) == 1                           # the payment went on, charged once
    record = result.record
    produced = {
        "log": log,
        "payment events": repr(events),
        "wire": "".join(raw for _, _, raw in record.transcript),
        "switch events": repr(record.events),
        "timeline": render_timeline(record),
        "variables at hangup": repr(record.variables),
        "store": open(store, "rb").read().decode("latin-1"),
    }
    for name, text in produced.items():
        assert traces(text) == [], name
