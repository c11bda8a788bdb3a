"""collect_card on a simulated call: fields, validation, error types, retries, secrecy."""
from tests.support.cards import CARD
from orchestrator.payments.events import CardAttemptsExhausted, CardComplete, FieldAccepted, FieldRejected

FLOW = """
flow: t
steps:
  - answer: {}
  - id: card
    collect_card:
      %s
      on: {cancelled: cancelled, too-many-failed-attempts: failed}
  - transfer_back: {to: dialplan}
  - id: cancelled
    transfer_back: {to: dialplan}
  - id: failed
    transfer_back: {to: dialplan}
"""


def flow(**options):
    body = "\n      ".join("%s: %s" % item for item in options.items()) or "max_attempts: 3"
    return FLOW % body


def keys(*entries):
    """Caller steps: wait for the next prompt (counting from the first), press."""
    steps = []
    for index, digits in enumerate(entries, start=1):
        steps += [{"wait_prompt": index}, {"press": digits}]
    return steps


def test_number_expiry_and_code_collected_and_only_masked_facts_kept(pay):
    run = pay(flow(), keys(CARD["visa"] + "#", "1230", "737"))
    assert run.outcome.result == "completed"
    valid = run.kinds(FieldAccepted)
    assert [v.field for v in valid] == ["number", "expiry", "security_code"]
    assert valid[0] == FieldAccepted(field="number", attempt=1, brand="visa", masked="visa 411111******1111")
    complete = run.kinds(CardComplete)[0]
    assert complete == CardComplete(brand="visa", masked="visa 411111******1111")


def test_no_dtmf_event_during_entry_and_sensitive_dtmf_off_after(pay):
    run = pay(flow(), keys(CARD["visa"] + "#", "1230", "737"))
    assert [name for _, name, _ in run.record.events if name == "DTMF"] == []
    assert run.record.variables.get("sensitive_dtmf") == "false"
    assert "hangup_cause" not in run.record.variables or not run.record.variables["hangup_cause"].isdigit()


def test_each_error_type_is_reported_then_retried(pay):
    cases = [
        (flow(), keys(CARD["luhn_error"] + "#", CARD["visa"] + "#", "1230", "737"), "invalid-card-number"),
        (flow(valid_brands="[mastercard]"), keys(CARD["visa"] + "#", CARD["mastercard"] + "#", "1230", "737"),
         "invalid-card-type"),
        (flow(), keys(CARD["visa"] + "#", "1320", "1230", "737"), "invalid-date"),
        (flow(), keys(CARD["visa"] + "#", "0124", "1230", "737"), "invalid-date"),
        (flow(), keys(CARD["visa"] + "#", "1230", "73#", "737"), "invalid-security-code"),
        (flow(fields="[number, postal_code]"), keys(CARD["visa"] + "#", "1#", "28001#"),
         "invalid-postal-code"),
    ]
    for text, steps, error in cases:
        run = pay(text, steps)
        assert [e.error_type for e in run.kinds(FieldRejected)] == [error], error
        assert run.outcome.result == "completed", error
        assert run.kinds(CardComplete), error


def test_amex_needs_a_four_digit_code(pay):
    run = pay(flow(), keys(CARD["amex"] + "#", "1230", "1234"))
    assert [v.field for v in run.kinds(FieldAccepted)] == ["number", "expiry", "security_code"]
    assert any("four digit security code" in h for h in run.heard)


def test_silence_is_an_input_timeout_and_ends_with_too_many_attempts(pay):
    run = pay(flow(max_attempts=2, first_digit_timeout=2), [{"silence": 60}])
    assert [e.error_type for e in run.kinds(FieldRejected)] == ["input-timeout"] * 2
    assert run.outcome.step == "failed"
    assert run.kinds(CardAttemptsExhausted)


def test_star_cancels(pay):
    run = pay(flow(), keys("4111*"))
    assert run.outcome.step == "cancelled"
    assert run.record.variables.get("pay_result") == "cancelled"


def test_confirmation_must_match(pay):
    run = pay(flow(confirm_number="true"),
              keys(CARD["visa"] + "#", CARD["mastercard"] + "#", CARD["visa"] + "#", "1230", "737"))
    assert [e.error_type for e in run.kinds(FieldRejected)] == ["confirmation-mismatch"]
    assert any("once more, to confirm" in h for h in run.heard)
    assert run.kinds(CardComplete)


def test_prompts_follow_field_attempt_and_error_type(pay):
    overrides = ('[{for: number, text: "Card number please."}, '
                 '{for: number, error_type: invalid-card-number, text: "Wrong number, again please."}, '
                 '{for: expiry, attempt: 2, file: /prompts/expiry_second_try.wav}]')
    run = pay(flow(prompts=overrides),
              keys(CARD["luhn_error"] + "#", CARD["visa"] + "#", "99", "1230", "737"))
    prompts = [h for h in run.heard if h.startswith(("say:", "/prompts"))]
    assert prompts[:4] == ["say:Card number please.", "say:Wrong number, again please.",
                           "say:Please enter the expiry date: two digits for the month, then two for the year.",
                           "/prompts/expiry_second_try.wav"]


def test_default_prompts_say_the_error_then_ask_again(pay):
    run = pay(flow(), keys(CARD["luhn_error"] + "#", CARD["visa"] + "#", "1230", "737"))
    assert ("say:That card number is not valid. Please enter your card number, followed by the pound key."
            in run.heard)


def test_spanish_prompts(pay):
    text = flow().replace("flow: t\n", "flow: t\nlanguage: es\n")
    run = pay(text, keys(CARD["visa"] + "#", "1230", "737"))
    assert run.heard[0].startswith("say:Introduzca el número de su tarjeta")


def test_recording_is_paused_during_entry_and_resumed_after(pay):
    run = pay(flow(), keys(CARD["visa"] + "#", "1230", "737"), record=True)
    actions = [action for _, action, _ in run.record.recording_log]
    assert actions == ["start", "pause", "resume"]
    assert run.record.recorded_keys == []


def test_recording_is_resumed_after_a_cancel_too(pay):
    run = pay(flow(), keys("4111*"), record=True)
    assert [a for _, a, _ in run.record.recording_log] == ["start", "pause", "resume"]
    assert run.record.recorded_keys == []


def test_keys_pressed_after_entry_are_heard_by_the_recording(pay):
    """The recording check is not vacuous: a resumed recording does hear keys."""
    text = FLOW.replace("  - transfer_back: {to: dialplan}\n  - id: cancelled",
                        "  - collect: {into: x, max_digits: 1, first_digit_timeout: 3}\n"
                        "  - transfer_back: {to: dialplan}\n  - id: cancelled") % "max_attempts: 3"
    steps = keys(CARD["visa"] + "#", "1230", "737") + [{"wait": 1}, {"press": "5"}]
    run = pay(text, steps, record=True)
    assert run.record.recorded_keys == [("/var/rec/call.wav", "5")]


def test_caller_hanging_up_mid_entry_ends_the_flow_and_keeps_nothing(pay):
    run = pay(flow(), [{"wait_prompt": 1}, {"press": "41111111"}, {"hangup": {}}])
    assert run.outcome.result == "caller-hung-up"
    assert run.kinds(CardComplete) == []
    assert run.record.variables.get("hangup_cause") == "NORMAL_CLEARING"


def test_per_field_attempts_and_timeouts(pay):
    run = pay(flow(per_field="{expiry: {max_attempts: 1, first_digit_timeout: 2}}"),
              keys(CARD["visa"] + "#") + [{"silence": 30}])
    assert [e.field for e in run.kinds(FieldRejected)] == ["expiry"]
    assert run.outcome.step == "failed"
