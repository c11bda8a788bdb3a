"""Every Channel operation on a simulated call, over real sockets."""
import pytest

from orchestrator.esl.channel import SECRET_VARIABLE, CallGone, CommandTimeout, Prompt

SAY = Prompt("speak", "enter your account number")


def test_answer_and_playback(harness):
    def flow(ch):
        ch.answer()
        return ch.playback("ivr/ivr-welcome.wav")

    record, (how, response) = harness.call(flow)
    assert how == "returned" and response == "FILE PLAYED"
    assert record.answered
    assert [(h.app, h.arg) for h in record.heard] == [("playback", "ivr/ivr-welcome.wav")]


def test_tone_and_silence_streams_play(harness):
    def flow(ch):
        ch.playback("tone_stream://%(200,0,500,600,700)")
        ch.playback("silence_stream://300")

    record, (how, _) = harness.call(flow)
    assert how == "returned"
    assert [h.arg for h in record.heard] == ["tone_stream://%(200,0,500,600,700)",
                                             "silence_stream://300"]


def test_speak_uses_configured_engine_and_voice_unless_told(harness):
    def flow(ch):
        ch.speak("Hello  there,\nworld")
        ch.speak("Hola", engine="flite", voice="slt")

    record, _ = harness.call(flow)
    assert [h.arg for h in record.heard] == ["flite|kal|Hello there, world", "flite|slt|Hola"]


def test_say_number_and_digits_and_never_the_modules_currency(harness):
    def flow(ch):
        ch.say("1234")
        ch.say("12", language="es", gender="MASCULINE")
        ch.say("0042", kind="digits")
        # an amount is counts and the catalog's words (catalog/money_words.py): the say
        # modules' CURRENCY names one currency for every amount, and is never sent
        with pytest.raises(ValueError):
            ch.say("12.34", kind="currency", language="es")

    record, (how, _) = harness.call(flow)
    assert how == "returned"
    assert [h.arg for h in record.heard] == [
        "en NUMBER pronounced FEMININE 1234",
        "es NUMBER pronounced MASCULINE 12",
        "en NUMBER iterated FEMININE 0042",
    ]


def test_say_refuses_more_than_one_word(harness):
    def flow(ch):
        ch.say("12 34")

    _, (how, exc) = harness.call(flow)
    assert how == "raised" and isinstance(exc, ValueError)


def test_set_and_unset_variables_are_seen_by_the_switch(harness):
    def flow(ch):
        ch.set_variable("pay_result", "approved")
        ch.set_variable("scratch", "x")
        ch.unset_variable("scratch")
        return dict(ch.variables)

    record, (how, variables) = harness.call(flow)
    assert record.variables["pay_result"] == "approved"
    assert "scratch" not in record.variables
    assert variables["pay_result"] == "approved" and "scratch" not in variables


def test_one_variable_read_by_name_agrees_with_all_of_them_at_every_point(harness):
    """``variable(name)`` looks into the newest untaken event for one header: it must give
    what ``variables`` would, after the switch's events and after our own writes, and never
    the variable a secret passes through."""
    # current_application*: set by the switch on each application, known only from its events
    names = ("pay_amount", "pay_result", "scratch", "absent", "current_application",
             "current_application_data", SECRET_VARIABLE)

    def one_then_all(ch):
        by_name = {name: ch.variable(name) for name in names}     # before anything is parsed
        every = dict(ch.variables)
        return by_name, {name: every.get(name) for name in names}

    def flow(ch):
        seen = [one_then_all(ch)]
        ch.set_variable("pay_result", "approved")
        ch.set_variable("scratch", "x")
        seen.append(one_then_all(ch))
        ch.answer()                          # a channel event with every variable: unread
        seen.append(one_then_all(ch))
        ch.unset_variable("scratch")
        ch.set_variable("pay_amount", "990")
        seen.append(one_then_all(ch))
        ch.playback("ivr/ivr-welcome.wav")  # events again, newer than our writes
        seen.append(one_then_all(ch))
        return seen

    record, (how, seen) = harness.call(flow, variables={"pay_amount": "1250"})
    assert how == "returned", seen
    for by_name, from_all in seen:
        assert by_name == from_all
    assert seen[0][0]["pay_amount"] == "1250" and seen[-1][0]["pay_amount"] == "990"
    assert seen[-1][0]["scratch"] is None and seen[-1][0]["pay_result"] == "approved"
    assert seen[-1][0]["current_application_data"] == "ivr/ivr-welcome.wav"
    assert all(by_name[SECRET_VARIABLE] is None for by_name, _ in seen)


def test_collect_ends_on_terminator(harness):
    def flow(ch):
        return ch.collect_digits([SAY], min_digits=1, max_digits=10, first_digit_timeout=3)

    _, (how, result) = harness.call(flow, [{"wait_prompt": 1}, {"press": "123#", "spacing": 0.2}])
    assert (result.status, result.digits, result.terminator) == ("ok", "123", "#")


def test_collect_ends_at_max_digits(harness):
    def flow(ch):
        return ch.collect_digits([SAY], max_digits=2, first_digit_timeout=3)

    _, (_, result) = harness.call(flow, [{"wait_prompt": 1}, {"press": "789"}])
    assert (result.status, result.digits, result.terminator) == ("ok", "78", "")


def test_collect_first_digit_timeout(harness):
    def flow(ch):
        return ch.collect_digits([SAY], first_digit_timeout=0.3)

    _, (_, result) = harness.call(flow)
    assert result.status == "timeout" and result.digits == ""


def test_collect_inter_digit_timeout_short_of_minimum_is_incomplete(harness):
    def flow(ch):
        return ch.collect_digits([SAY], min_digits=4, max_digits=6, first_digit_timeout=3,
                                 inter_digit_timeout=0.3)

    _, (_, result) = harness.call(flow, [{"wait_prompt": 1}, {"press": "12"}])
    assert (result.status, result.digits) == ("incomplete", "12")


def test_collect_inter_digit_timeout_after_minimum_is_ok(harness):
    def flow(ch):
        return ch.collect_digits([], min_digits=2, max_digits=6, first_digit_timeout=3,
                                 inter_digit_timeout=0.3)

    _, (_, result) = harness.call(flow, [{"wait": 2}, {"press": "123"}])
    assert (result.status, result.digits) == ("ok", "123")


def test_collect_star_cancels(harness):
    def flow(ch):
        return ch.collect_digits([SAY], max_digits=6, first_digit_timeout=3)

    _, (_, result) = harness.call(flow, [{"wait_prompt": 1}, {"press": "12*"}])
    assert result.status == "cancelled"


def test_first_digit_barges_in_and_is_kept(harness):
    prompts = [Prompt("file", "ivr/long.wav"), Prompt("file", "ivr/never-played.wav")]

    def flow(ch):
        return ch.collect_digits(prompts, max_digits=3, first_digit_timeout=3)

    record, (_, result) = harness.call(flow, [{"wait_prompt": 1}, {"wait": 0.5},
                                              {"press": "456"}])
    assert result.digits == "456"
    assert record.heard[0].barged
    assert [h.arg for h in record.heard] == ["ivr/long.wav"]


def test_without_barge_in_the_prompt_plays_out(harness):
    def flow(ch):
        return ch.collect_digits([Prompt("file", "ivr/long.wav")], max_digits=2,
                                 first_digit_timeout=3, barge_in=False)

    record, (_, result) = harness.call(flow, [{"wait_prompt": 1}, {"wait": 0.5}, {"press": "45"}])
    assert result.digits == "45"
    assert record.heard[0].interrupted_by is None


def test_transfer_ends_the_session_without_error(harness):
    def flow(ch):
        ch.transfer("2000", "XML", "agents")
        return "after transfer"

    record, (how, value) = harness.call(flow)
    assert (how, value) == ("returned", "after transfer")
    assert record.transferred_to == "2000 XML agents"
    assert not record.stranded and "socket_resume" not in record.variables


def test_bridge_answered_and_busy(harness):
    def flow(ch):
        return ch.bridge("user/1000", timeout=10)

    from orchestrator.simulator.caller import CallerScript

    _, (_, answered) = harness.call(flow, CallerScript.from_data(
        {"bridge": {"outcome": "answered", "talk": 0.2}, "steps": []}))
    assert answered.answered and answered.cause == "SUCCESS"
    record, (_, busy) = harness.call(flow, CallerScript.from_data(
        {"bridge": {"outcome": "USER_BUSY", "after": 0.2}, "steps": []}))
    assert not busy.answered and busy.cause == "USER_BUSY"
    assert record.hangup_by is None  # the caller is still ours after a failed bridge


def test_hangup_with_cause(harness):
    def flow(ch):
        ch.hangup("CALL_REJECTED")
        return ch.gone

    record, (how, gone) = harness.call(flow)
    assert how == "returned"
    assert record.hangup_by == "service" and record.hangup_cause == "CALL_REJECTED"


@pytest.mark.parametrize("wait_kind", ["playback", "collect", "bridge", "idle-collect"])
def test_caller_hangup_during_each_wait_raises_call_gone(harness, wait_kind):
    from orchestrator.simulator.caller import CallerScript

    def flow(ch):
        if wait_kind == "playback":
            ch.playback("ivr/long.wav")
        elif wait_kind == "collect":
            ch.collect_digits([Prompt("file", "ivr/long.wav")], first_digit_timeout=10)
        elif wait_kind == "idle-collect":
            ch.collect_digits([], first_digit_timeout=10)
        else:
            ch.bridge("user/1000", timeout=10)

    script = CallerScript.from_data({"bridge": {"outcome": "answered", "after": 5},
                                     "steps": [{"wait": 0.5}, {"hangup": {}}]})
    record, (how, exc) = harness.call(flow, script)
    assert how == "raised" and isinstance(exc, CallGone)
    assert record.hangup_by == "caller"


def test_completion_is_matched_on_application_uuid_not_name(harness):
    from orchestrator.simulator.faults import Faults

    def flow(ch):
        first = ch.playback("ivr/one.wav")
        second = ch.playback("ivr/two.wav")
        return first, second

    record, (how, value) = harness.call(flow, faults=Faults(stale_completion=True))
    assert how == "returned"
    heard = record.heard
    assert [h.arg for h in heard] == ["ivr/one.wav", "ivr/two.wav"]
    # each playback returned only after its own prompt had really ended
    assert all(h.ended is not None for h in heard)


def test_no_reply_times_out(harness):
    from orchestrator.simulator.faults import Faults

    def flow(ch):
        ch.playback("ivr/one.wav")

    record, (how, exc) = harness.call(flow, faults=Faults(no_reply_to="sendmsg"))
    assert how == "raised" and isinstance(exc, CommandTimeout)
    assert record.fallback_reached


def test_missing_completion_times_out(harness):
    def flow(ch):
        ch.execute("playback", "ivr/long.wav", timeout=0.1)

    record, (how, exc) = harness.call(flow)
    assert how == "raised" and isinstance(exc, CommandTimeout)
    assert record.heard[0].interrupted_by == "uuid_break"


def test_dropped_socket_ends_the_flow(harness):
    from orchestrator.simulator.faults import Faults

    def flow(ch):
        ch.answer()
        ch.playback("ivr/long.wav")

    record, (how, exc) = harness.call(flow, faults=Faults(drop_after_seconds=0.3),
                                      prompt_seconds=30)
    assert how == "raised" and isinstance(exc, CallGone)


def test_slow_replies_within_the_deadline_are_fine(harness):
    from orchestrator.simulator.faults import Faults

    def flow(ch):
        ch.answer()
        return ch.playback("ivr/one.wav")

    _, (how, value) = harness.call(flow, faults=Faults(reply_delay=0.2))
    assert (how, value) == ("returned", "FILE PLAYED")


def test_a_russian_say_sets_the_gender_variable_mod_say_ru_reads_before_it(harness):
    """mod_say_ru (1.10.12) ignores say's gender argument and reads the channel variable
    gender: it is set (no event: uuid_setvar) before each Russian say that needs another."""
    def flow(ch):
        ch.say("2", language="ru", gender="FEMININE")
        ch.say("2", language="ru", gender="FEMININE")     # already female: not set again
        ch.say("2", language="ru", gender="MASCULINE")
        ch.say("2", language="es", gender="FEMININE")     # mod_say_es takes no variable

    record, (how, _) = harness.call(flow)
    assert how == "returned"
    assert [h.arg for h in record.heard] == [
        "ru NUMBER pronounced FEMININE 2", "ru NUMBER pronounced FEMININE 2",
        "ru NUMBER pronounced MASCULINE 2", "es NUMBER pronounced FEMININE 2"]
    sent = [text for _, direction, text in record.transcript if "gender" in text and "uuid_setvar" in text]
    assert [text.split("uuid_setvar ", 1)[1].split("\n")[0].split(" ", 1)[1] for text in sent] == \
        ["gender female", "gender male"]
    assert record.variables["gender"] == "male"


def test_on_a_secure_call_the_script_sets_the_russian_gender_before_the_say(harness):
    def flow(ch):
        ch.secure_entry(True)
        ch.say("1", language="ru", gender="FEMININE")
        ch.flush_announcements()

    record, (how, _) = harness.call(flow)
    assert how == "returned"
    assert [h.arg for h in record.heard] == ["ru NUMBER pronounced FEMININE 1"]
    assert record.variables["gender"] == "female"


def test_the_script_sets_only_a_gender_of_ascii_letters_as_the_switchs_lua_does(harness):
    """pay_secure.lua sets gender from a say segment's seventh field when it matches ^%a+$;
    the switch's Lua runs in the C locale, where a Cyrillic word or an underscore does not
    (measured on 1.10.12), and the simulator does the same."""
    from urllib.parse import quote

    def segment(gender):
        return ",".join(quote(f, safe="") for f in ("say", "ru", "NUMBER", "pronounced",
                                                     "MASCULINE", "1", gender))

    seen = []

    def flow(ch):
        ch.answer()
        for gender in ("female", "женский", "male_h"):
            ch._switch.set_variable(ch.uuid, "pay_secure_play", segment(gender))
            ch.execute("lua", "pay_secure.lua play")
            seen.append(ch._switch.get_variable(ch.uuid, "gender"))

    record, (how, _) = harness.call(flow)
    assert how == "returned", how
    assert seen == ["female", "female", "female"]
