"""The example flows in flows/ validate and behave as described, on a fake call."""
import pathlib

from tests.engine.fake_channel import FakeChannel

from orchestrator.engine import EngineSettings, FlowLibrary, FlowRunner, validate_paths

FLOWS_DIR = pathlib.Path(__file__).resolve().parents[2] / "flows"


def _library():
    return FlowLibrary.from_directory(str(FLOWS_DIR))


def _run(name, channel):
    return FlowRunner(_library()[name], channel, EngineSettings()).run()


def test_every_shipped_flow_validates():
    code, lines = validate_paths([str(FLOWS_DIR)])
    assert code == 0, lines
    assert all(line.endswith(": OK") for line in lines)
    assert {"welcome", "amount_due"} <= set(_library())


def test_welcome_reads_back_an_account_number():
    channel = FakeChannel(keys=["1", "12345678#"])
    outcome = _run("welcome", channel)
    assert channel.names()[0] == "answer"
    assert ("playback", "ivr/ivr-you_entered.wav") in channel.heard()
    assert ("say", "12345678") in channel.heard()
    assert (outcome.result, outcome.step) == ("completed", "hangup@41")


def test_welcome_transfers_to_the_agent_after_a_wrong_key():
    channel = FakeChannel(keys=["5", "2"])
    outcome = _run("welcome", channel)
    assert channel.calls[-1] == ("transfer", ("1000",), {"dialplan": "XML", "context": "default"})
    assert outcome.result == "transferred"


def test_welcome_says_goodbye_when_the_caller_is_silent():
    channel = FakeChannel(keys=["timeout"] * 3)
    outcome = _run("welcome", channel)
    assert channel.heard()[-1] == ("playback", "voicemail/vm-goodbye.wav")
    assert channel.calls[-1] == ("hangup", ("NORMAL_CLEARING",), {})
    assert outcome.result == "completed"


def test_welcome_cancel_in_account_entry_returns_to_the_menu():
    channel = FakeChannel(keys=["1", "cancel", "2"])
    assert _run("welcome", channel).result == "transferred"


def test_amount_due_repeats_at_most_three_times():
    channel = FakeChannel(variables={"pay_amount": "4599", "pay_currency": "EUR"}, keys=["1"] * 5)
    outcome = _run("amount_due", channel)
    amounts = [value for name, value in channel.heard() if "euros" in value]
    assert amounts == ["45 euros and 99 cents"] * 3
    assert outcome.result == "completed"
