"""The canary: a card paid with 4111111111111111, expiry 1230 and code 737 leaves no trace.

Everything a run produces is searched (``tests/support/canary.py`` says what a trace is): the
service's log at DEBUG, stdout and stderr, the payment events it emitted, the /metrics page,
the payment store file, the files of ``simulate --artifacts`` and of ``record-esl``, and the
raw bytes that crossed the socket between the switch and the service, read by a relay that
keeps them unchanged. Each search has a negative control: the same run with a digit let
through on purpose, in which the search must find it.
"""
import io
import logging
import os
import re
import subprocess
import sys

import pytest

from orchestrator import dry_run
from orchestrator.engine.steps.answer import Answer
from orchestrator.esl import channel as channel_module
from orchestrator.esl.recorder import EslRecorder
from orchestrator.esl.transcript import read_transcript
from orchestrator.logs import setup_logging
from orchestrator.payments.events import FieldAccepted
from orchestrator.simulator import render_timeline
from tests.support.canary import CODE, EXPIRY, PAN, traces
from tests.support.raw_relay import RawRelay
from tests.support.service import caller_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-1001"}
PAYMENT_ARGS = [arg for name, value in PAYMENT.items() for arg in ("--var", "%s=%s" % (name, value))]
CALL_VARIABLES = dict(PAYMENT, pay_flow="card_payment")
CALLER = [{"wait_prompt": 3}, {"press": PAN + "#"}, {"wait_prompt": 4}, {"press": EXPIRY},
          {"wait_prompt": 5}, {"press": CODE}]
APPROVED = re.compile(r"payment \S+: approved 1250 EUR visa 411111\*{6}1111")


def test_the_search_finds_what_it_looks_for():
    assert traces("card=4111111111111111")
    assert traces("pan 4111 1111 1111 1111")
    assert traces("x 1111111 y")
    assert traces("security_code=737")
    assert traces('"cvv": "737"')
    assert traces("variable_hangup_cause: 737\n")
    assert traces("variable_hangup_cause: 1230\n")
    assert traces('{"variable_hangup_cause": "737"}')
    assert traces("execute-app-arg: leak=1230\n")
    assert traces("Application-Data: leak%3D737\n")       # URL-encoded, as in plain events
    assert traces("api uuid_setvar 5b1c4e2a-0000-4000-8000-000000000000 leak 737\n")
    assert traces("  1.20s  caller presses 737#")
    assert not traces("amount 1250 EUR, card visa 411111******1111, code 4737X")
    assert not traces("Content-Length: 737\nEvent-Sequence: 1230\nEvent-Date-Timestamp: 1700000001230\n")
    assert not traces('{"Content-Length": "737", "t": 3.737}\n--- 12.737 in\n')
    assert not traces("Caller-Caller-ID-Number: +15551230000\nUnique-ID: 0a1b2c3d-a737-4230-8123-0123456789ab")
    assert not traces("caller presses ****************#, then ****, then ***")
    # a uuid whose second group came out all digits, as one in 65,536 does
    assert not traces('"Application-UUID": "52799114-1230-428d-9971-0a522415a5b5"')
    assert traces('"Application-UUID": "52799114-1230-428d-9971-0a522415a5b5", "leak": "1230"')


def test_a_finding_says_where_it_is():
    found = traces("Event-Name: CHANNEL_EXECUTE_COMPLETE\nvariable_hangup_cause: 737\n")
    assert found and all("variable_hangup_cause: 737" in f for f in found)
    assert found[0].startswith("security code as a value: ")


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
         "--caller", str(caller), *PAYMENT_ARGS, "--log-level", "DEBUG", "--artifacts", str(artifacts)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # the payment really went through with these digits: the sandbox approved a Visa ending 1111
    assert APPROVED.search(result.stdout)
    assert "level=debug" in result.stderr  # the log really ran at DEBUG
    # the keys of secure entry are printed, masked: the number and its '#', the expiry, the code
    pressed = "".join(re.findall(r"caller presses (\S+)", result.stdout))
    assert pressed == "*" * len(PAN) + "#" + "*" * len(EXPIRY + CODE)
    outputs = dict(read_all(artifacts), stdout=result.stdout, stderr=result.stderr)
    assert set(outputs) >= {"payments.sqlite", "wire.txt", "switch-events.jsonl",
                            "payment-events.jsonl", "metrics.txt", "stdout", "stderr"}
    assert "payivr_" in outputs["metrics.txt"]
    for name, text in outputs.items():
        assert traces(text) == [], name


def leak_after_answer(monkeypatch, assignments):
    """Make the flow's ``answer`` step also set each (variable, value) on the channel with the
    ``set`` application, each in a command and in its completion event: a card digit let
    through on purpose, for the negative controls."""
    answer = Answer.run

    def answer_then_leak(self, ctx):
        answer(self, ctx)
        for name, value in assignments:
            ctx.channel.execute("set", "%s=%s" % (name, value))

    monkeypatch.setattr(Answer, "run", answer_then_leak)


# What the switch reports as keys in digits_dialed (a real 1.10.12 does, for keys pressed
# before sensitive_dtmf): the field values the masking of the written files must hide.
KEYS_REPORTED = [("digits_dialed", PAN), ("digits_dialed", EXPIRY), ("digits_dialed", CODE)]


def findings_naming(found, name):
    return [f for f in found if name in f]


@pytest.fixture
def logging_restored():
    """``simulate`` sets the root logger up for a command line; put it back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_simulate_artifacts_mask_keys_that_crossed_the_wire(tmp_path, monkeypatch, logging_restored):
    """``simulate --artifacts`` writes the simulator's verbatim record masked: with the card's
    fields on the wire as reported keys, the files and the printed story hold none, while the
    record they were written from holds every one (the negative control)."""
    leak_after_answer(monkeypatch, KEYS_REPORTED)
    records = []
    write = dry_run.write_artifacts

    def write_and_keep_record(directory, record, events, metrics, *rest):
        records.append(record)
        write(directory, record, events, metrics, *rest)

    monkeypatch.setattr(dry_run, "write_artifacts", write_and_keep_record)
    caller = tmp_path / "caller.yaml"
    caller.write_text("steps:\n" + "".join(
        "  - %s: %r\n" % next(iter(step.items())) for step in CALLER))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    out = io.StringIO()
    code = dry_run.simulate(os.path.join(ROOT, "flows", "card_payment.yaml"), str(caller),
                            variables=PAYMENT, out=out, artifacts=str(artifacts))
    assert code == 0 and APPROVED.search(out.getvalue()), out.getvalue()
    [record] = records
    unmasked = {"wire": record.wire_text(), "switch events": repr(record.events),
                "timeline": render_timeline(record, reveal_digits=True)}
    for name, value in (("wire", PAN[:7]), ("wire", EXPIRY), ("wire", CODE),
                        ("switch events", PAN[:7]), ("switch events", EXPIRY),
                        ("switch events", CODE), ("timeline", PAN[:7]), ("timeline", EXPIRY),
                        ("timeline", CODE)):
        assert [f for f in traces(unmasked[name]) if value in f], (name, value)
    written = dict(read_all(artifacts), stdout=out.getvalue())
    for name, text in written.items():
        assert traces(text) == [], name


@pytest.fixture
def captured_log(logging_restored):
    """The service's own log at DEBUG, into a string; the root logger is put back after (left
    at DEBUG, it made later tests' captured logs hold urllib3's request lines)."""
    stream = io.StringIO()
    setup_logging("DEBUG", "logfmt", stream=stream)
    yield stream


@pytest.fixture
def raising_handlers(monkeypatch):
    """A channel listener that raises as each field's read completes, and a payment-event
    watcher (returned, to subscribe) that raises once the expiry is accepted; the watcher keeps
    every event it saw in its ``seen`` list."""
    original = channel_module.Channel._on_message

    def raising_listener(self, message):
        original(self, message)
        if message.headers.get("Application") == "lua" and " read " in \
                message.headers.get("Application-Data", "") and \
                message.event_name == "CHANNEL_EXECUTE_COMPLETE":
            raise RuntimeError("listener bug as a field's read completes")

    monkeypatch.setattr(channel_module.Channel, "_on_message", raising_listener)

    def raising_watcher(call, event):
        raising_watcher.seen.append(event)
        if isinstance(event, FieldAccepted) and event.field == "expiry":
            raise RuntimeError("watcher bug mid-entry")

    raising_watcher.seen = []
    return raising_watcher


def test_a_handler_raising_mid_entry_leaks_nothing(service_on_simulator, raising_handlers,
                                                   captured_log):
    """Off the wire: the log, the payment events, the timeline, the channel's variables at
    hangup and the store. (What crossed the wire in this call is the raw-relay canary's.)"""
    world = service_on_simulator(sandbox=True)
    store = world.store_path
    world.service.events.subscribe(raising_handlers)
    result = world.run_call(CALLER, CALL_VARIABLES, timeout=60)
    charges = world.sandbox.charges
    world.stop()
    log = captured_log.getvalue()
    assert "RuntimeError" in log                       # the watcher's failure is logged
    assert result.outcome.result != "error"            # and never reaches the call:
    assert len(charges) == 1                           # the payment went on, charged once
    record = result.record
    produced = {
        "log": log,
        "payment events": repr(raising_handlers.seen),
        "timeline": render_timeline(record),
        "variables at hangup": repr(record.variables),
        "store": open(store, "rb").read().decode("latin-1"),
    }
    for name, text in produced.items():
        assert traces(text) == [], name


def paid_call_through_relay(world, timeout=60):
    """One paid call from the simulated switch to the service through a ``RawRelay``.
    -> (CallResult, every byte both ways as text)"""
    relay = RawRelay(world.address).start()
    try:
        call = world.switch.place_call(relay.address, caller=caller_script(CALLER),
                                       variables=CALL_VARIABLES)
        result = world.finish(call, timeout)
        relay.wait_closed(10)
    finally:
        relay.stop()
    assert relay.connections == 1
    assert world.sandbox.charges and result.outcome.result == "completed", result.outcome
    return result, relay.raw.decode("latin-1")


@pytest.mark.parametrize("handlers", ["working", "raising mid-entry"])
def test_no_card_digit_crosses_the_wire_between_switch_and_service(service_on_simulator, request,
                                                                   handlers):
    world = service_on_simulator(sandbox=True)
    if handlers == "raising mid-entry":
        world.service.events.subscribe(request.getfixturevalue("raising_handlers"))
    _, raw = paid_call_through_relay(world)
    assert "CHANNEL_EXECUTE_COMPLETE" in raw and "sendmsg" in raw   # both directions were kept
    found = traces(raw)
    assert found == [], "\n".join(found)


def test_the_raw_wire_search_finds_a_digit_let_through(service_on_simulator, monkeypatch):
    """The negative control of the raw-relay canary: each field set on the channel on purpose
    is found on the wire, in the command that set it and in the events that carry it."""
    leak_after_answer(monkeypatch, [("canary_leak_number", PAN), ("canary_leak_expiry", EXPIRY),
                                    ("canary_leak_code", CODE)])
    world = service_on_simulator(sandbox=True)
    _, raw = paid_call_through_relay(world)
    found = traces(raw)
    assert findings_naming(found, "execute-app-arg: canary_leak_number=" + PAN)
    assert findings_naming(found, "variable_canary_leak_number: " + PAN)
    for variable, field, value in (("canary_leak_expiry", "expiry", EXPIRY),
                                   ("canary_leak_code", "security code", CODE)):
        mine = [f for f in findings_naming(found, variable) if f.startswith(field + " as a value")]
        assert [f for f in mine if "execute-app-arg: %s=%s" % (variable, value) in f], field
        assert [f for f in mine if "variable_%s: %s" % (variable, value) in f], field


def test_record_esl_writes_no_key_that_crossed_the_wire(service_on_simulator, monkeypatch, tmp_path):
    """``record-esl`` between the switch and the service, with a raw relay before it: with the
    card's fields on the wire as reported keys, the transcript holds none of them, while the
    relay's unmasked copy of the same conversation holds each one (the negative control)."""
    leak_after_answer(monkeypatch, KEYS_REPORTED)
    world = service_on_simulator(sandbox=True)
    out = tmp_path / "call.jsonl"
    recorder = EslRecorder(("127.0.0.1", 0), world.address, str(out), mode="outbound").start()
    relay = RawRelay(recorder.address).start()
    try:
        call = world.switch.place_call(relay.address, caller=caller_script(CALLER),
                                       variables=CALL_VARIABLES)
        result = world.finish(call, 60)
        relay.wait_closed(10)
    finally:
        relay.stop()
        recorder.stop()
    assert world.sandbox.charges and result.outcome.result == "completed", result.outcome
    unmasked = traces(relay.raw.decode("latin-1"))
    for value in (PAN[:7], EXPIRY, CODE):
        assert [f for f in findings_naming(unmasked, "digits_dialed") if value in f], value
    text = out.read_text(encoding="utf-8")
    records = read_transcript(str(out))
    assert [r for r in records if r["dir"] == "c2s"] and [r for r in records if r["dir"] == "s2c"]
    assert "variable_digits_dialed: X" in text and "digits_dialed=X" in text  # masked, not dropped
    assert traces(text) == []
    for record in records:
        assert traces(record.get("raw", "")) == [], record
