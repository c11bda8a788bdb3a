"""``freeswitch_conf/scripts/pay_secure.lua`` on a real FreeSWITCH, driven as docs/secure-entry.md
says: every status line it writes to the FIFO, what it leaves in ``pay_secure_status``, the keys
typed over its prompts kept for the read queued behind them (and lost to the outbound socket's
park by a read sent once the prompt has ended), and a FIFO nobody reads.

Every call here has ``sensitive_dtmf=true`` (set over its socket before any key, as the payment
extensions do) and ``hangup_complete_with_xml=true`` (the CDR rides on CHANNEL_HANGUP_COMPLETE).
While it runs, one client is on ``event plain ALL``, one on ``event json ALL`` and one on the
log stream, the switch logs at DEBUG with ``debug_level 10``; after the call has gone, none of
them, the call's own socket nor the log file may hold the number or any 7-digit run of it, and
no client may have had a DTMF event or the reading leg a per-key log line. What the test's own
key presses cause is left out, and only that (tests/support/live/secure_script.py). The
controls at the end show each of those searches finding what they look for when it is there.
"""
import math
import os
import shutil
import struct
import tempfile
import time
import wave

import gevent
import pytest

from tests.support.live.card_entry import card_digits
from tests.support.live.secure_script import Outbound, ScriptCall, Watchers
from tests.support.secure_entry import SCRIPT, Fifo, encode_segments, token

PAN = "4539578763621486"          # Luhn-valid test number, no run of one repeated digit
EXPIRY = "1228"
RUNS = sorted(card_digits(PAN))
LOCAL = ("127.0.0.1", "localhost", "::1")
LINE_TIMEOUT = 15.0               # the fields' own timeouts are at most 5 s


def clean(found):
    return {kind: entries for kind, entries in found.items() if entries}


class SecureLine:
    def __init__(self, live, control, outbound, watchers, directory):
        self.live, self.control, self.outbound = live, control, outbound
        self.watchers, self.dir = watchers, directory
        self.calls = []

    def call(self, sensitive=True):
        call = ScriptCall(self.control, self.outbound, sensitive=sensitive)
        self.calls.append(call)
        return call

    def fifo(self, **kwargs):
        return Fifo(self.dir, **kwargs)

    def finish(self, call):
        """Hang the call up, wait until it is gone everywhere; (findings, HANGUP_COMPLETE)."""
        call.hang_up()
        self.watchers.wait_gone(call.b_leg)
        plain = self.watchers.plain
        complete = plain.messages[plain.wait(
            lambda m: m.event_name == "CHANNEL_HANGUP_COMPLETE" and m.get("Unique-ID") == call.b_leg,
            5, 0, "CHANNEL_HANGUP_COMPLETE")]
        assert complete.get("CDR-Attached") == "xml" and "<cdr" in complete.event_body
        return self.watchers.findings(RUNS, call, self.calls), complete

    def assert_seen_nowhere(self, call):
        found, complete = self.finish(call)
        assert clean(found) == {}
        assert complete.get("variable_digits_dialed") == "none"
        return complete


@pytest.fixture
def secure(live_switch, control):
    if live_switch.host not in LOCAL:
        pytest.skip("the script hands the keys over through a local FIFO: the switch must run "
                    "on this host (FREESWITCH_ESL_HOST is %s)" % live_switch.host)
    assert control.api("module_exists mod_lua").strip() == "true", \
        "mod_lua is not loaded: freeswitch_conf/autoload_configs/modules.conf.xml loads it"
    outbound = Outbound(live_switch.socket_address)
    watchers = Watchers(live_switch)
    directory = tempfile.mkdtemp(prefix="pay-fifo-")
    control.api("fsctl loglevel debug")
    control.api("fsctl debug_level 10")
    line = SecureLine(live_switch, control, outbound, watchers, directory)
    yield line
    control.api("fsctl debug_level 0")
    for call in line.calls:
        call.close()
    watchers.close()
    outbound.close()
    shutil.rmtree(directory, ignore_errors=True)


def read_line(call, fifo, keys, minimum, maximum, first_ms, inter_ms, terminators="#*",
              prompt="silence"):
    """One field: the script reading while the caller presses ``keys`` (None: nobody keys)."""
    app = call.read(fifo.path, minimum, maximum, first_ms, inter_ms, terminators, prompt)
    if keys:
        call.press(keys)
    line = fifo.line(LINE_TIMEOUT)
    call.event("CHANNEL_EXECUTE_COMPLETE", app, LINE_TIMEOUT)
    return line


def assert_status(call, status):
    """The status is the FIFO line's; the variable is left unset (it names only a failure to
    answer: no-fifo, bad-arguments), so nothing of a read stays on the channel."""
    assert call.var("pay_secure_status") == "_undef_", status
    assert call.var("pay_secure_prompt") == "_undef_"
    # cleared after the read: a '*' of this field cannot make the next one look cancelled
    assert call.var("read_terminator_used") == "_undef_"


# ---- read: each status -------------------------------------------------------------------
def test_a_number_ended_by_hash_reaches_the_fifo_and_nothing_else(secure):
    call = secure.call()
    fifo = secure.fifo()
    assert read_line(call, fifo, PAN + "#", 16, 19, 5000, 3000,
                     prompt="say:Please enter your card number") == "ok # %s\n" % PAN
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_a_field_filled_to_its_maximum_ends_without_a_terminator(secure):
    call = secure.call()
    assert read_line(call, secure.fifo(), EXPIRY, 4, 4, 5000, 3000) == "ok - %s\n" % EXPIRY
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_the_hash_a_full_field_leaves_queued_does_not_end_the_next_field(secure):
    call = secure.call()
    number, expiry = secure.fifo(), secure.fifo()
    # the orchestrator's next field queued behind this one (event-lock): it starts as soon as
    # the number is full, and the '#' after the 16th digit is still to come
    first = call.read(number.path, 16, 16, 5000, 3000)
    second = call.read(expiry.path, 4, 4, 5000, 3000, wait=False)
    call.press(PAN + "#")
    assert number.line(LINE_TIMEOUT) == "ok - %s\n" % PAN
    call.event("CHANNEL_EXECUTE_COMPLETE", first)
    call.event("CHANNEL_EXECUTE", second)
    call.press(EXPIRY)
    assert expiry.line(LINE_TIMEOUT) == "ok - %s\n" % EXPIRY
    call.event("CHANNEL_EXECUTE_COMPLETE", second)
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_star_cancels_and_the_next_field_is_not_taken_for_cancelled(secure):
    call = secure.call()
    assert read_line(call, secure.fifo(), PAN[:6] + "*", 16, 19, 5000, 3000) == "cancel * -\n"
    assert_status(call, "cancel")
    assert read_line(call, secure.fifo(), EXPIRY, 4, 4, 5000, 3000) == "ok - %s\n" % EXPIRY
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_nothing_keyed_is_a_timeout(secure):
    call = secure.call()
    started = time.monotonic()
    assert read_line(call, secure.fifo(), None, 16, 19, 1500, 1000) == "timeout - -\n"
    assert time.monotonic() - started >= 1.4
    assert_status(call, "timeout")
    secure.assert_seen_nowhere(call)


def test_fewer_keys_than_the_minimum_then_silence_is_short(secure):
    call = secure.call()
    assert read_line(call, secure.fifo(), PAN[:6], 16, 19, 5000, 1000) == "short - -\n"
    assert_status(call, "short")
    secure.assert_seen_nowhere(call)


@pytest.mark.parametrize("during", ["read", "prompts"])
def test_a_hangup_during_the_read_is_reported_as_hangup(secure, during):
    call = secure.call()
    fifo = secure.fifo()
    if during == "prompts":     # the segments the read plays first (pay_secure_play)
        tone = write_tone(os.path.join(secure.dir, "tone.wav"))
        assert call.api("uuid_setvar %s pay_secure_play %s"
                        % (call.b_leg, encode_segments(("file", tone)))).startswith("+OK")
    app = call.read(fifo.path, 16, 19, 5000, 3000, "#*")
    call.press(PAN[:6])
    gevent.sleep(1.0)        # the caller goes with some of the keys pressed
    assert not call.is_complete(app)
    call.hang_up()
    assert fifo.line(LINE_TIMEOUT) == "hangup - -\n"
    complete = secure.assert_seen_nowhere(call)
    # the script leaves the status only on a live channel
    assert complete.get("variable_pay_secure_status") is None


HANGUPS_IN_A_ROW = 15


def test_a_hangup_mid_number_is_hangup_every_time(secure):
    """The hang-up can end the read before the channel says it is gone (mod_loopback unlinks
    the media first): before the script checked the line, some of these came back ``short``."""
    lines = []
    for _ in range(HANGUPS_IN_A_ROW):
        call = secure.call()
        fifo = secure.fifo()
        app = call.read(fifo.path, 16, 19, 5000, 3000, "#*")
        call.press(PAN[:6])
        gevent.sleep(0.5)
        assert not call.is_complete(app)
        call.hang_up()
        lines.append(fifo.line(LINE_TIMEOUT))
        secure.assert_seen_nowhere(call)
    assert lines == ["hangup - -\n"] * HANGUPS_IN_A_ROW


# ---- play: keys typed over any prompt stay queued for the read queued behind it ---------------
def write_tone(path, seconds=3.0, rate=8000):
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
            for n in range(int(seconds * rate))))
    return path


def say_sounds(control):
    """Skip when the switch has no English sound files for ``say`` (FREESWITCH_SOUNDS)."""
    prefix = control.api("global_getvar sound_prefix").strip()
    if not any(os.path.exists(os.path.join(prefix, "digits", sub, "1.wav"))
               for sub in ("8000", "")):
        pytest.skip("no sound files for `say` under %r: set FREESWITCH_SOUNDS" % prefix)
    return prefix


SEGMENTS = {
    "file": lambda tone: ("file", tone),
    "speak": lambda tone: ("speak", "flite", "kal",
                           "The amount due, as of today, is twelve euros & fifty cents."),
    "say-number": lambda tone: ("say", "en", "NUMBER", "pronounced", "", "987654"),
    "say-currency": lambda tone: ("say", "en", "CURRENCY", "pronounced", "", "1234.56"),
}


def played_files(secure, call, play_uuid):
    """What the switch reported playing on the call (PLAYBACK_START, which ``myevents`` does not
    carry: the plain watcher's) up to the play's end."""
    plain = secure.watchers.plain
    end = plain.wait(lambda m: m.event_name == "CHANNEL_EXECUTE_COMPLETE"
                     and m.get("Application-UUID") == play_uuid, 10, 0, "play end")
    return [m.get("Playback-File-Path") for m in plain.messages[:end]
            if m.event_name == "PLAYBACK_START" and m.get("Unique-ID") == call.b_leg]


def spoke(secure, call, timeout=5.0):
    """Whether the switch said it finished speaking TTS on the call (speak has no PLAYBACK_*).
    The log stream is written by its own thread and may come after the call's events: waited
    for, within a bound."""
    try:
        secure.watchers.log.wait(lambda m: m.get("User-Data") == call.b_leg
                                 and "done speaking text" in m.body, timeout, 0, "done speaking")
    except TimeoutError:
        return False
    return True


PLAYED = {
    "file": lambda secure, call, files, tone: files == [tone],
    "speak": lambda secure, call, files, tone: files == [] and spoke(secure, call),
    "say-number": lambda secure, call, files, tone: len(files) == 1 and "digits/9.wav" in files[0],
    "say-currency": lambda secure, call, files, tone: len(files) == 1 and "currency/" in files[0],
}


def span_ms(call, app_uuid):
    """From the application's start to its end, on the switch's clock."""
    start = int(call.event("CHANNEL_EXECUTE", app_uuid).get("Event-Date-Timestamp"))
    end = int(call.event("CHANNEL_EXECUTE_COMPLETE", app_uuid).get("Event-Date-Timestamp"))
    return (end - start) // 1000


@pytest.mark.parametrize("kind", sorted(SEGMENTS))
def test_keys_typed_over_a_play_are_kept_for_the_read_queued_behind_it(secure, control, kind):
    if kind.startswith("say"):
        say_sounds(control)
    tone = write_tone(os.path.join(secure.dir, "tone.wav"))
    call = secure.call()
    fifo = secure.fifo()
    play = call.play(SEGMENTS[kind](tone))
    read = call.read(fifo.path, 16, 19, 5000, 3000, wait=False)    # event-lock: after the play
    gevent.sleep(0.3)
    call.press(PAN + "#")
    assert not call.is_complete(play), "the segment had ended before the keys were sent"
    assert fifo.line(30) == "ok # %s\n" % PAN
    call.event("CHANNEL_EXECUTE_COMPLETE", read)
    files = played_files(secure, call, play)
    assert PLAYED[kind](secure, call, files, tone), files
    if kind == "file":
        assert span_ms(call, play) >= 2900       # not cut short by the keys: the whole 3 s tone
    assert call.var("pay_secure_play") == "_undef_"      # taken by the play
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_keys_typed_over_the_segments_a_read_plays_first_are_read(secure, control):
    say_sounds(control)
    tone = write_tone(os.path.join(secure.dir, "tone.wav"), seconds=1.0)
    call = secure.call()
    fifo = secure.fifo()
    assert call.api("uuid_setvar %s pay_secure_play %s" % (call.b_leg, encode_segments(
        SEGMENTS["file"](tone), SEGMENTS["say-currency"](tone)))).startswith("+OK")
    read = call.read(fifo.path, 16, 19, 5000, 3000)
    gevent.sleep(0.3)
    call.press(PAN + "#")
    assert fifo.line(30) == "ok # %s\n" % PAN
    call.event("CHANNEL_EXECUTE_COMPLETE", read)
    files = played_files(secure, call, read)
    assert files[0] == tone and "currency/" in files[1], files
    assert call.var("pay_secure_play") == "_undef_"
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)


def test_a_read_sent_once_the_play_has_ended_loses_a_key_to_the_sockets_park(secure):
    """Why reads are queued behind their prompts, or play them themselves: between two
    applications the outbound socket's park throws a queued key away every 20 ms."""
    tone = write_tone(os.path.join(secure.dir, "tone.wav"))
    call = secure.call()
    play = call.play(SEGMENTS["file"](tone))
    gevent.sleep(0.3)
    call.press(PAN + "#")
    call.event("CHANNEL_EXECUTE_COMPLETE", play, 30)
    assert read_line(call, secure.fifo(), None, 16, 19, 3000, 2000) == "short # -\n"
    secure.assert_seen_nowhere(call)


def test_a_play_of_every_kind_at_once_plays_them_in_order(secure, control):
    say_sounds(control)
    tone = write_tone(os.path.join(secure.dir, "tone.wav"), seconds=0.5)
    call = secure.call()
    play = call.play(*(SEGMENTS[kind](tone) for kind in ("file", "speak", "say-number",
                                                         "say-currency")))
    call.event("CHANNEL_EXECUTE_COMPLETE", play, 60)
    files = played_files(secure, call, play)
    assert len(files) == 3 and files[0] == tone, files
    assert "digits/9.wav" in files[1] and "currency/" in files[2], files
    assert spoke(secure, call)
    assert call.var("pay_secure_status") == "_undef_"
    secure.assert_seen_nowhere(call)


def test_a_local_file_that_is_not_there_is_not_played_and_keeps_the_keys(secure):
    """A file the switch cannot open flushes the queued keys into digits_dialed: the script
    leaves out a local path that is not there, as a segment and as the read's prompt."""
    tone = write_tone(os.path.join(secure.dir, "tone.wav"))
    os.mkdir(os.path.join(secure.dir, "8000"))
    rated = write_tone(os.path.join(secure.dir, "8000", "rated.wav"), seconds=0.5)
    given = os.path.join(secure.dir, "rated.wav")       # found by mod_sndfile in 8000/
    missing = os.path.join(secure.dir, "missing.wav")
    assert not os.path.exists(given) and os.path.exists(rated)
    call = secure.call()
    fifo = secure.fifo()
    play = call.play(("file", tone), ("file", missing), ("file", given))
    read = call.read(fifo.path, 16, 19, 5000, 3000, prompt=missing, wait=False)
    gevent.sleep(0.3)
    call.press(PAN + "#")
    assert fifo.line(30) == "ok # %s\n" % PAN
    call.event("CHANNEL_EXECUTE_COMPLETE", read)
    assert played_files(secure, call, play) == [tone, given]
    assert_status(call, "ok")
    secure.assert_seen_nowhere(call)         # digits_dialed none


# ---- the FIFO: opened r+, so a missing reader cannot hang the call or leave a file -------------
def test_without_a_reader_the_script_returns_at_once_and_makes_no_file(secure):
    call = secure.call()
    orphan = secure.fifo(open_reader=False)
    app = call.read(orphan.path, 4, 4, 5000, 3000, "#")
    call.press(EXPIRY)
    call.event("CHANNEL_EXECUTE_COMPLETE", app, 10)    # a write-only open would block here
    assert call.var("pay_secure_status") == "_undef_"
    assert orphan.is_fifo()
    assert orphan.open().line(0.5) is None              # the line went with the script's handle

    missing = os.path.join(secure.dir, token())
    app = call.read(missing, 4, 4, 5000, 3000, "#")
    call.press(EXPIRY)
    call.event("CHANNEL_EXECUTE_COMPLETE", app, 10)
    assert call.var("pay_secure_status") == "no-fifo"
    assert not os.path.lexists(missing)

    # the call goes on: the next field is read and handed over
    assert read_line(call, secure.fifo(), EXPIRY, 4, 4, 5000, 3000) == "ok - %s\n" % EXPIRY
    secure.assert_seen_nowhere(call)


def test_a_fifo_argument_that_is_not_an_absolute_path_is_refused(secure):
    call = secure.call()
    app = call.execute("lua", "%s read %s 4 4 5000 3000 #" % (SCRIPT, token()))
    call.event("CHANNEL_EXECUTE_COMPLETE", app, 10)
    assert call.var("pay_secure_status") == "bad-arguments"
    assert call.var("read_result") == "_undef_"          # it did not read at all
    secure.assert_seen_nowhere(call)


# ---- controls: the searches above find what they look for when it is there ---------------------
def test_control_play_and_get_digits_into_a_variable_shows_the_number_everywhere(secure):
    canary = secure.control.canary
    canary.expect_leak("play_and_get_digits into a variable")
    call = secure.call()
    app = call.execute("play_and_get_digits", "16 19 1 5000 #* silence_stream://250 "
                       "silence_stream://250 pagd_card \\d+ 3000")
    call.event("CHANNEL_EXECUTE", app)
    call.press(PAN + "#")
    call.event("CHANNEL_EXECUTE_COMPLETE", app, LINE_TIMEOUT)
    assert call.var("pagd_card") == PAN
    found, _ = secure.finish(call)
    where = {entry[0] for entry in found["events"]}
    assert {"plain", "json", "call socket"} <= where, found["events"]
    # the DEBUG1 line 'Test Regex [<number>][\d+]', on the log stream and in the file
    expected = {"log stream", "log file"} if secure.watchers.log_path else {"log stream"}
    assert {entry[0] for entry in found["log"]} == expected, found["log"]
    assert found["dtmf"] == []              # sensitive_dtmf still holds for the events
    # the suite's canary finds it too, in both event formats and in the log
    runs = {entry[0] for entry in canary.findings()["runs"]}
    assert {"plain", "json", "log stream"} <= runs, runs


def test_control_without_sensitive_dtmf_the_keys_are_dtmf_events_and_log_lines(secure):
    canary = secure.control.canary
    canary.expect_leak("no sensitive_dtmf")
    call = secure.call(sensitive=False)
    assert read_line(call, secure.fifo(), PAN + "#", 16, 19, 5000, 3000) == "ok # %s\n" % PAN
    found, complete = secure.finish(call)
    assert len([d for d in found["dtmf"] if d[0] == "plain"]) == len(PAN) + 1
    assert any("RECV DTMF" in entry[1] for entry in found["key_lines"])
    # the keys went into the history, which the payment extension's digits_dialed_filter=(.+)
    # masks whole at hangup (the second line after sensitive_dtmf): one X a key
    assert complete.get("variable_digits_dialed", "") == "X" * (len(PAN) + 1)
    # the suite's canary finds the keys one per event and one per log line
    spread = {entry[:2] for entry in canary.findings()["one_per_message"]}
    assert {("plain", "DTMF-Digit"), ("json", "DTMF-Digit")} <= spread, spread
    assert "log" in {entry[0] for entry in spread}, spread
    assert canary.keys_told(call.b_leg)["dtmf"]


def test_control_dptools_playback_takes_the_keys_typed_over_it(secure):
    canary = secure.control.canary
    canary.expect_leak("a dptools playback logs each key")
    tone = write_tone(os.path.join(secure.dir, "tone.wav"))
    call = secure.call()
    fifo = secure.fifo()
    play = call.execute("playback", tone)
    read = call.read(fifo.path, 16, 19, 2000, 1000, wait=False)    # queued as in the test above
    call.event("CHANNEL_EXECUTE", play)
    gevent.sleep(0.3)
    call.press(PAN + "#")
    assert fifo.line(30) == "timeout - -\n"
    call.event("CHANNEL_EXECUTE_COMPLETE", read)
    found, _ = secure.finish(call)
    digits = [entry[1] for entry in found["key_lines"] if "Digit " in entry[1]]
    assert len(digits) >= len(PAN), found["key_lines"]
    assert "log" in {entry[0] for entry in canary.findings()["one_per_message"]}


def test_control_a_full_field_really_leaves_its_hash_queued(secure):
    call = secure.call()
    number = secure.fifo()
    first = call.read(number.path, 16, 16, 5000, 3000)
    # the same next field as above, but a plain dptools read: the '#' ends it at once
    control = call.execute("read", "4 4 silence_stream://1 lone_control 3000 #")
    call.press(PAN + "#")
    assert number.line(LINE_TIMEOUT) == "ok - %s\n" % PAN
    call.event("CHANNEL_EXECUTE_COMPLETE", first)
    started = int(call.event("CHANNEL_EXECUTE", control).get("Event-Date-Timestamp"))
    ended = int(call.event("CHANNEL_EXECUTE_COMPLETE", control).get("Event-Date-Timestamp"))
    assert ended - started < 2000000                    # by the '#', not by its 3 s timeout
    assert call.var("read_terminator_used") == "#"
    assert call.var("lone_control") == "_undef_"
    secure.assert_seen_nowhere(call)
