"""Each step kind, run against a fake channel: what it asks of the call."""
from tests.engine.fake_channel import FakeChannel

from orchestrator.engine.channel import Prompt


def test_answer_play_forms(run_flow):
    outcome, channel = run_flow("""
        flow: x
        steps:
          - answer:
          - play: ivr/ivr-welcome.wav
          - play: {tone_stream: "%(200,0,500,600,700)"}
          - play: {tone_stream: "tone_stream://%(100,0,440)"}
          - play: {silence_stream: 250}
    """)
    assert outcome.result == "completed"
    assert channel.names()[0] == "answer"
    assert channel.heard() == [
        ("playback", "ivr/ivr-welcome.wav"),
        ("playback", "tone_stream://%(200,0,500,600,700)"),
        ("playback", "tone_stream://%(100,0,440)"),
        ("playback", "silence_stream://250"),
    ]


def test_file_paths_reach_the_switch_as_written(run_flow):
    # FreeSWITCH resolves a relative path against its sound_prefix; the engine adds nothing.
    _, channel = run_flow("""
        flow: x
        steps:
          - play: custom/hello.wav
          - play: /abs/file.wav
          - play: {tone_stream: "%(100,0,440)"}
    """)
    assert [arg for _, arg in channel.heard()] == [
        "custom/hello.wav", "/abs/file.wav", "tone_stream://%(100,0,440)"]


def test_missing_prompt_file_warns_and_goes_on(run_flow, caplog):
    outcome, channel = run_flow("""
        flow: x
        steps:
          - play: nope.wav
          - hangup:
    """, channel=FakeChannel(responses={"nope.wav": "FILE NOT FOUND"}))
    assert outcome.result == "completed"
    assert "prompt nope.wav did not play: FILE NOT FOUND" in caplog.text


def test_say_kinds_language_and_currency(run_flow):
    _, channel = run_flow("""
        flow: x
        language: es
        vars: {amount: "1234"}
        steps:
          - say: 42
          - say: {value: "${amount}", kind: currency, currency: EUR}
          - say: {value: "500", kind: currency, currency: JPY, language: en}
          - say: {value: "1234", kind: digits}
    """)
    assert [(name, args, kwargs) for name, args, kwargs in channel.calls] == [
        ("say", ("42",), {"kind": "number", "language": "es"}),
        # an amount: the catalog's words for its currency, in one voice (catalog/money_words.py)
        ("speak", ("12 euros con 34 céntimos",), {"engine": "tts_commandline", "voice": "es"}),
        ("speak", ("500 yen",), {"engine": "flite", "voice": "kal"}),
        ("say", ("1234",), {"kind": "digits", "language": "es"}),
    ]


def test_say_currency_rejects_a_non_integer_amount(run_flow):
    outcome, _ = run_flow("""
        flow: x
        steps:
          - say: {value: "12.5", kind: currency, currency: EUR}
    """)
    assert outcome.result == "error"
    assert "not a whole number of minor units" in outcome.detail


def test_speak_uses_settings_unless_overridden(run_flow):
    _, channel = run_flow("""
        flow: x
        steps:
          - speak: Hello
          - speak: {text: Hola, engine: polly, voice: Lucia}
    """, tts_engine="flite", tts_voice="slt")
    assert channel.calls == [
        ("speak", ("Hello",), {"engine": "flite", "voice": "slt"}),
        ("speak", ("Hola",), {"engine": "polly", "voice": "Lucia"}),
    ]


def test_set_flow_and_channel_variables_in_order(run_flow):
    _, channel = run_flow("""
        flow: x
        steps:
          - set: {first: "Ana", greeting: "hi ${first}", channel.pay_status: "${greeting}", n: 3}
          - speak: "${greeting} ${n}"
    """)
    assert channel.variables["pay_status"] == "hi Ana"
    assert channel.heard() == [("speak", "hi Ana 3")]


def test_transfer_ends_the_flow(run_flow):
    outcome, channel = run_flow("""
        flow: x
        vars: {agent: "1001"}
        steps:
          - transfer: ${agent}
    """)
    assert channel.calls == [("transfer", ("1001",), {"dialplan": "XML", "context": "default"})]
    assert (outcome.result, outcome.step, outcome.detail) == ("transferred", "transfer@4", "to 1001 XML default")


def test_transfer_with_dialplan_and_context(run_flow):
    _, channel = run_flow("""
        flow: x
        steps:
          - transfer: {extension: 5000, dialplan: XML, context: queues}
    """)
    assert channel.calls == [("transfer", ("5000",), {"dialplan": "XML", "context": "queues"})]


def test_hangup_default_and_cause(run_flow):
    outcome, channel = run_flow("""
        flow: x
        steps:
          - hangup: CALL_REJECTED
    """)
    assert channel.calls == [("hangup", ("CALL_REJECTED",), {})]
    assert outcome.result == "completed"
    _, channel = run_flow("flow: x\nsteps:\n  - hangup: {}\n")
    assert channel.calls == [("hangup", ("NORMAL_CLEARING",), {})]


def test_branch_then_else_and_fall_through(run_flow):
    body = """
        flow: x
        vars: {n: "%s"}
        steps:
          - branch: {if: "${n} > 5", then: big}
          - branch: {if: "${n} == 0", then: zero, else: small}
          - id: big
            speak: big
          - hangup:
          - id: zero
            speak: zero
          - hangup:
          - id: small
            speak: small
    """
    for n, heard in (("9", "big"), ("0", "zero"), ("3", "small")):
        _, channel = run_flow(body % n)
        assert channel.heard() == [("speak", heard)]


MENU = """
    flow: menu
    steps:
      - id: menu
        collect:
          into: choice
          prompt: [menu.wav, {speak: "press 1 or 2"}, {say: 2, kind: number}]
          retry_prompt: again.wav
          choices: [1, 2]
          max_attempts: 3
          on: {timeout: silent, cancelled: cancelled, too-many-failed-attempts: failed}
      - speak: "you chose ${choice}"
      - hangup:
      - id: silent
        hangup:
      - id: cancelled
        hangup:
      - id: failed
        hangup:
"""


def test_collect_accepts_a_choice_first_time(run_flow):
    outcome, channel = run_flow(MENU, channel=FakeChannel(keys=["2"]))
    name, args, kwargs = channel.calls[0]
    assert name == "collect_digits"
    assert args[0] == (Prompt("file", "menu.wav", {}),
                       Prompt("speak", "press 1 or 2", {"engine": "flite", "voice": "kal"}),
                       Prompt("say", "2", {"kind": "number", "language": "en", "gender": "FEMININE"}))
    assert kwargs == {"min_digits": 1, "max_digits": 1, "terminators": "#", "first_digit_timeout": 5,
                      "inter_digit_timeout": 3, "cancel_key": "*", "barge_in": True}
    assert channel.heard() == [("speak", "you chose 2")]
    assert outcome.result == "completed"


def test_collect_retries_with_invalid_and_retry_prompts(run_flow):
    _, channel = run_flow(MENU, channel=FakeChannel(keys=["7", "timeout", "1"]))
    prompts = [args[0] for name, args, _ in channel.calls if name == "collect_digits"]
    invalid = Prompt("file", "ivr/ivr-that_was_an_invalid_entry.wav", {})
    again = Prompt("file", "again.wav", {})
    assert prompts[1:] == [(invalid, again), (again,)]
    assert channel.heard() == [("speak", "you chose 1")]


def test_collect_outcomes(run_flow):
    for keys, ending in ((["timeout"] * 3, "silent"), (["cancel"], "cancelled"),
                         (["9", "timeout", "timeout"], "failed")):
        outcome, channel = run_flow(MENU, channel=FakeChannel(keys=keys))
        assert outcome.step == ending, keys
    _, channel = run_flow(MENU, channel=FakeChannel(keys=["9", "8", "7"]))
    assert channel.heard() == [("playback", "ivr/ivr-that_was_an_invalid_entry.wav")]


def test_collect_valid_pattern_and_lengths(run_flow):
    body = """
        flow: x
        steps:
          - collect:
              into: account
              min_digits: 4
              max_digits: 8
              valid: "^9[0-9]+$"
              on: {too-many-failed-attempts: bad}
          - speak: "${account}"
          - hangup:
          - id: bad
            hangup: CALL_REJECTED
    """
    _, channel = run_flow(body, channel=FakeChannel(keys=["123", "12345#", "91234#"]))
    assert channel.heard()[-1] == ("speak", "91234")
    outcome, _ = run_flow(body, channel=FakeChannel(keys=["#", "1#", "2#"]))
    assert outcome.step == "bad"


def test_collect_without_a_target_is_an_error(run_flow):
    outcome, _ = run_flow("""
        flow: x
        steps:
          - collect: {into: pin}
    """, channel=FakeChannel(keys=["cancel"]))
    assert outcome.result == "error"
    assert outcome.detail == "collect into 'pin' ended with cancelled and has no 'on: {cancelled: <step id>}' target"


def test_collect_timeout_falls_back_to_too_many_failed_attempts(run_flow):
    outcome, _ = run_flow("""
        flow: x
        steps:
          - collect: {into: pin, max_attempts: 2, on: {too-many-failed-attempts: out}}
          - id: out
            hangup:
    """, channel=FakeChannel(keys=["timeout", "timeout"]))
    assert (outcome.result, outcome.step) == ("completed", "out")


def test_collect_counts_an_incomplete_entry_as_rejected(run_flow):
    from orchestrator.engine.channel import DigitResult
    _, channel = run_flow(MENU, channel=FakeChannel(keys=[DigitResult("incomplete", "", "#"), "1"]))
    prompts = [args[0] for name, args, _ in channel.calls if name == "collect_digits"]
    assert prompts[1][0] == Prompt("file", "ivr/ivr-that_was_an_invalid_entry.wav", {})
