"""Every ``Channel`` operation on a real channel, through the project's OutboundServer."""
import time

import gevent
import gevent.event
import pytest

from orchestrator.esl.channel import ChannelSettings, Prompt
from orchestrator.esl.outbound import OutboundServer
from tests.support.live.fsprocess import PLAIN_CONTEXT, PLAIN_EXTENSION


class Calls:
    """An OutboundServer on the switch's socket address running one test handler per call."""

    def __init__(self, address, handler, max_calls=10):
        self.handler = handler
        self.done = gevent.event.AsyncResult()
        self.server = OutboundServer(self._run, host=address[0], port=address[1],
                                     max_calls=max_calls, linger_seconds=2,
                                     channel_settings=ChannelSettings(
                                         app_timeout=20, answer_timeout=10, hangup_timeout=5))

    def _run(self, channel):
        try:
            self.done.set(self.handler(channel))
        except BaseException as exc:
            self.done.set_exception(exc)
            raise

    def result(self, timeout=30):
        return self.done.get(timeout=timeout)


@pytest.fixture
def serve(live_switch):
    started = []

    def start(handler, max_calls=10):
        calls = Calls(live_switch.socket_address, handler, max_calls)
        calls.server.start()
        started.append(calls)
        return calls

    yield start
    for calls in started:
        calls.server.stop(grace=2)


def test_every_channel_operation_on_a_real_channel(serve, control):
    seen = {}
    a_leg_holder = []

    def handler(channel):
        channel.answer()
        seen["tone"] = channel.playback("tone_stream://%(300,0,440)")
        seen["silence"] = channel.playback("silence_stream://300")
        seen["missing"] = channel.playback("/nonexistent/live-test.wav")
        seen["speak"] = channel.speak("Hello from the live suite.")
        seen["say"] = channel.say("42", kind="number")
        channel.set_variable("live_marker", "on")
        seen["after_set"] = channel.api("uuid_getvar %s live_marker" % channel.uuid)
        channel.unset_variable("live_marker")
        seen["after_unset"] = channel.api("uuid_getvar %s live_marker" % channel.uuid)
        seen["bridge"] = channel.bridge("loopback/no_such_extension/default", timeout=15)
        seen["up_after_bridge"] = channel.api("uuid_exists %s" % channel.uuid)
        gevent.spawn_later(1.0, control.press, a_leg_holder[0], "73#")
        started = time.monotonic()
        seen["digits"] = channel.collect_digits(
            prompts=[Prompt("file", "silence_stream://15000")], max_digits=5,
            first_digit_timeout=5, inter_digit_timeout=3)
        seen["collect_seconds"] = time.monotonic() - started
        seen["uuid"] = channel.uuid
        channel.hangup("USER_BUSY")
        return "done"

    calls = serve(handler)
    a_leg_holder.append(control.call(extension=PLAIN_EXTENSION, context=PLAIN_CONTEXT))
    assert calls.result(60) == "done"
    assert seen["tone"] == "FILE PLAYED" and seen["silence"] == "FILE PLAYED"
    assert seen["missing"] == "FILE NOT FOUND"
    assert seen["speak"] == "_none_" and seen["say"] == "_none_"
    assert seen["after_set"] == "on" and seen["after_unset"] == "_undef_"
    assert not seen["bridge"].answered and seen["bridge"].cause == "NO_ROUTE_DESTINATION"
    assert seen["up_after_bridge"] == "true"        # continue_on_fail kept the caller
    assert (seen["digits"].status, seen["digits"].digits, seen["digits"].terminator) == \
        ("ok", "73", "#")
    assert seen["collect_seconds"] < 8             # barge-in cut the 15 s prompt short
    hangup = control.wait(a_leg_holder[0], "CHANNEL_HANGUP_COMPLETE")
    assert hangup.headers["Hangup-Cause"] == "USER_BUSY"


def test_transfer_unsets_socket_resume_so_the_transferred_call_is_not_stranded(serve, control):
    def handler(channel):
        channel.answer()
        channel.transfer("agent", "XML", "default")
        return channel.variables.get("socket_resume")

    calls = serve(handler)
    a_leg = control.call(extension=PLAIN_EXTENSION, context=PLAIN_CONTEXT)
    assert calls.result(30) is None
    # the socket is closed once the handler returns; the agent extension must play on to its
    # own hangup, which a channel reset into CS_RESET (socket_resume still set) never reaches
    speak = control.wait(a_leg, "CHANNEL_EXECUTE_COMPLETE", 20, Application="speak")
    assert speak.headers["Application-Response"] == "_none_"
    control.wait(a_leg, "CHANNEL_EXECUTE", 10, Application="hangup")
    assert control.wait(a_leg, "CHANNEL_HANGUP_COMPLETE").headers["Hangup-Cause"] == \
        "NORMAL_CLEARING"


def test_sensitive_dtmf_suppresses_dtmf_events(serve, control):
    a_leg_holder = []
    seen = {}

    def handler(channel):
        seen["uuid"] = channel.uuid
        channel.answer()
        control.press(a_leg_holder[0], "9")
        seen["before"] = channel.collect_digits(max_digits=1, first_digit_timeout=5)
        channel.set_variable("sensitive_dtmf", "true")
        control.press(a_leg_holder[0], "123")
        seen["after"] = channel.collect_digits(max_digits=3, first_digit_timeout=3)
        channel.hangup()
        return "done"

    calls = serve(handler)
    a_leg_holder.append(control.call(extension=PLAIN_EXTENSION, context=PLAIN_CONTEXT))
    assert calls.result(30) == "done"
    control.wait(a_leg_holder[0], "CHANNEL_HANGUP_COMPLETE")
    assert seen["before"].digits == "9"             # without it, digits arrive as events
    assert seen["after"].status == "timeout"        # with it, the socket saw none
    # DTMF events carry no channel variables: they are told apart by the leg's Unique-ID
    digits = [m.headers.get("DTMF-Digit") for m in control.es.events
              if m.event_name == "DTMF" and m.headers.get("Unique-ID") == seen["uuid"]]
    assert digits == ["9"]                          # and neither did any other listener
