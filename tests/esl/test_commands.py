"""``SwitchCommands``: each verb one API command; replies become values or CommandFailed; no
value that FreeSWITCH could expand or split reaches a command line."""
import pytest

from orchestrator.engine.channel import CommandFailed
from orchestrator.esl.commands import SwitchCommands

LEG = "0a1b2c3d-0000-4000-8000-00000000000a"
OTHER = "0a1b2c3d-0000-4000-8000-00000000000b"


class Recorder:
    """An ``api`` function: records each command line, answers from a script."""

    def __init__(self, *replies):
        self.sent, self.replies = [], list(replies)

    def __call__(self, command):
        self.sent.append(command)
        return self.replies.pop(0) if self.replies else "+OK\n"


def switch(*replies):
    api = Recorder(*replies)
    return SwitchCommands(api, node_key="node-1"), api


@pytest.mark.parametrize("verb, args, line", [
    ("set_variable", (LEG, "pay_mode", "stay"), "uuid_setvar %s pay_mode stay" % LEG),
    ("clear_variable", (LEG, "sensitive_dtmf"), "uuid_setvar %s sensitive_dtmf" % LEG),
    ("set_variables", (LEG, [("a", "1"), ("b", "x y")]), "uuid_setvar_multi %s a=1;b=x y" % LEG),
    ("transfer", (LEG, "pay_agent", "XML", "payments"), "uuid_transfer %s pay_agent XML payments" % LEG),
    ("bridge", (LEG, OTHER), "uuid_bridge %s %s" % (LEG, OTHER)),
    ("hang_up", (LEG,), "uuid_kill %s NORMAL_CLEARING" % LEG),
    ("stop_media", (LEG,), "uuid_break %s all" % LEG),
    ("play_to_leg", (LEG, "tone_stream://%(200,0,500)"), "uuid_broadcast %s tone_stream://%%(200,0,500) aleg" % LEG),
    ("pause_recording", (LEG, "/rec/a.wav"), "uuid_record %s pause /rec/a.wav" % LEG),
    ("resume_recording", (LEG, "/rec/a.wav"), "uuid_record %s resume /rec/a.wav" % LEG),
    ("mute_toward_listener", (LEG,), "uuid_audio %s start read mute 1" % LEG),
    ("unmute_toward_listener", (LEG,), "uuid_audio %s stop" % LEG),
    ("receive_keys", (LEG, "*"), "uuid_recv_dtmf %s *" % LEG),
    ("flush_keys", (LEG,), "uuid_flush_dtmf %s" % LEG),
])
def test_each_verb_is_one_command_and_a_refusal_raises(verb, args, line):
    commands, api = switch("+OK Success\n")
    getattr(commands, verb)(*args)
    assert api.sent == [line]
    refused, _ = switch("-USAGE: <uuid> start|stop\n")
    with pytest.raises(CommandFailed):
        getattr(refused, verb)(*args)


def test_questions_answer_values_and_anything_else_is_a_failure():
    commands, _ = switch("true\n", "false\n", "_undef_\n", "abc\n", "true", "maybe\n")
    assert commands.leg_exists(LEG) is True
    assert commands.leg_exists(OTHER) is False
    assert commands.get_variable(LEG, "bridge_to") is None
    assert commands.get_variable(LEG, "bridge_to") == "abc"
    assert commands.file_exists("/sounds/en/welcome.wav") is True
    with pytest.raises(CommandFailed):
        commands.leg_exists(LEG)
    assert commands.node_key == "node-1"


@pytest.mark.parametrize("verb, args", [
    ("set_variable", (LEG, "pay_reference", "${system(touch /tmp/x)}")),
    ("set_variable", (LEG, "pay_reference", "a\nsendmsg")),
    ("set_variable", (LEG, "bad name", "x")),
    ("set_variables", (LEG, [("pay_reference", "a;pay_flow=evil")])),
    ("set_variables", (LEG, [("pay_reference", "$${hostname}")])),
    ("transfer", (LEG, "1000 XML public", "XML", "default")),
    ("bridge", (LEG, "not a uuid; uuid_kill")),
    ("leg_exists", ("../../etc",)),
    ("receive_keys", (LEG, "1 2")),
    ("pause_recording", (LEG, "/rec/a.wav 9999")),
    ("hang_up", (LEG, "NORMAL_CLEARING\nx")),
])
def test_a_value_that_could_expand_split_or_inject_never_reaches_the_switch(verb, args):
    commands, api = switch()
    with pytest.raises(ValueError):
        getattr(commands, verb)(*args)
    assert api.sent == []


def test_legs_reads_the_json_channel_list_and_skips_a_row_of_another_shape():
    """``show channels as json`` as mod_commands answers it: a caller's name may hold a comma
    (the plain form's separator), a row whose uuid is not one never reaches a later command."""
    reply = ('{"row_count":3,"rows":[{"uuid":"%s","created_epoch":"1796158898",'
             '"cid_name":"Smith, Jo","cid_num":"+34600111222"},'
             '{"uuid":"%s","created_epoch":"","cid_num":""},'
             '{"uuid":"x; uuid_kill all","created_epoch":"1"}]}\n' % (LEG, OTHER))
    commands, api = switch(reply)
    legs = commands.legs()
    assert api.sent == ["show channels as json"]
    assert [(leg.uuid, leg.created, leg.caller) for leg in legs] == [
        (LEG, 1796158898.0, "+34600111222"), (OTHER, 0.0, "")]
    assert switch('{"row_count":0}\n')[0].legs() == []
    with pytest.raises(CommandFailed):
        switch("-ERR no reply\n")[0].legs()
