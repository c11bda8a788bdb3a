"""A CRM answer holding FreeSWITCH syntax (``${...}``, quotes, line breaks, ``|``) never reaches
the switch as it came: it is spoken with that syntax neutralised, a say of it is refused, and
a channel variable cannot be given it. The proof reads the raw bytes between the simulated
switch and the service (``tests/support/raw_relay.py``)."""
import pytest

from orchestrator.engine import FlowLibrary, load_flow
from orchestrator.esl.channel import sayable, speakable
from tests.support.raw_relay import RawRelay
from tests.support.service import caller_script
from tests.support.web_service import ScriptedService

EXPANSION = "${system(touch /tmp/payivr-hostile-crm)}"
HOSTILE_NAME = 'Ana %s "quoted" \'single\'\nevent-lock: false|flite|evil \\ $${hostname}' % EXPANSION
ANSWER = {"name": HOSTILE_NAME, "invoices": [{"number": "F%s1" % EXPANSION, "amount": 1250}]}
FLOW = """
flow: hostile_crm
steps:
  - answer: {}
  - call_service: {service: crm, map: {name: $.name, invoices: "$.invoices[*]"},
                   on: {error: out, timeout: out, not-found: out}}
  - speak: "Hello ${name}, invoice ${invoices.1.number}"
  - collect: {into: key, prompt: {speak: "${name}"}, max_attempts: 1, first_digit_timeout: 0.2,
               on: {timeout: next}}
  - id: next
    %s
  - id: out
    hangup: {}
"""


@pytest.fixture
def hostile_crm():
    service = ScriptedService([(200, ANSWER)]).start()
    yield service
    service.stop()


def call(service_on_simulator, crm, last_step):
    flow = load_flow(FLOW % last_step, source_name="hostile_crm.yaml")
    world = service_on_simulator(
        {"flows": {"default": "hostile_crm"},
         "web_services": [{"name": "crm", "url": crm.url, "max_attempts": 1}]},
        library=FlowLibrary({flow.name: flow}))
    relay = RawRelay(world.address).start()
    try:
        placed = world.switch.place_call(relay.address, caller=caller_script([]))
        result = world.finish(placed, 60)
        relay.wait_closed(10)
    finally:
        relay.stop()
    return result, relay.raw.decode("latin-1")


def test_crm_text_is_spoken_with_its_syntax_neutralised(service_on_simulator, hostile_crm):
    result, wire = call(service_on_simulator, hostile_crm, "hangup: {}")
    assert result.outcome.result == "completed", result.outcome.detail
    spoken = [h.arg for h in result.record.heard if h.app == "speak"]
    assert len(spoken) == 2, spoken
    for arg in spoken:
        engine, voice, text = arg.split("|")              # nothing added a field
        assert "${" not in text and "\n" not in text and "\\" not in text
        assert "Ana" in text and '"quoted"' in text and "system(touch /tmp/payivr-hostile-crm)" in text
    assert "${" not in wire and "|evil" not in wire
    assert not any(line.startswith("event-lock: false") for line in wire.splitlines())


def test_a_say_or_a_channel_variable_of_crm_text_is_refused_before_the_switch(
        service_on_simulator, hostile_crm):
    for step in ('say: {value: "${invoices.1.number}", kind: digits}',
                 'set: {channel.crm_name: "${name}"}'):
        result, wire = call(service_on_simulator, hostile_crm, step)
        assert result.outcome.result == "error", step
        assert "${" not in wire and "system(" not in wire.split("speak")[0]


def test_the_negative_control_finds_the_text_when_it_is_sent_as_it_came(
        service_on_simulator, hostile_crm, monkeypatch):
    from orchestrator.esl import channel as esl_channel
    monkeypatch.setattr(esl_channel, "speakable", lambda text: " ".join(str(text).split()))
    _, wire = call(service_on_simulator, hostile_crm, "hangup: {}")
    assert EXPANSION in wire


@pytest.mark.parametrize("text", [EXPANSION, "a|b", "x\ny", "back\\slash", "$${hostname}", "\x00"])
def test_speakable_leaves_nothing_the_switch_reads_as_syntax(text):
    spoken = speakable(text)
    assert not any(mark in spoken for mark in ("${", "|", "\n", "\\", "\x00", "{", "}"))


@pytest.mark.parametrize("value,kind", [(EXPANSION, "number"), ("12 34", "digits"), ("F-1", "digits"),
                                        ("1e9", "number"), ("", "number"),
                                        # the say modules' CURRENCY is never sent: an amount is
                                        # counts and the catalog's words (catalog/money_words.py)
                                        ("12.50", "currency"),
                                        ("2026-12-15", "date")])
def test_sayable_refuses_what_is_not_of_its_kind(value, kind):
    with pytest.raises(ValueError):
        sayable(value, kind)
    assert sayable("1234", "digits") == "1234" and sayable("1250", "number") == "1250"
