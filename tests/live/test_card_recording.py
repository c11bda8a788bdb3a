"""A recording of a paid call holds no card digit, with the caller keying them as tones.

Keys sent with ``uuid_send_dtmf`` travel out of band and never reach a recording, so a check on
such a call would pass whatever the flow did to the recording. Here the caller's keys are
audio: the a-leg plays them as DTMF tones (``uuid_broadcast <a-leg> tone_stream://...``), and
the b-leg, which the orchestrator drives, has ``start_dtmf`` (in-band detection) running, as a
line carrying its keys in band would, so they reach ``play_and_get_digits``. The harness also
starts ``uuid_record <b-leg> start <wav>`` when the call arrives, before the shipped
card_payment flow runs, and names that file in ``pay_recording_path``, from which collect_card
pauses it during entry.

The WAV is then searched for DTMF with a Goertzel detector (tests/support/live/tones.py). The paid call's
recording holds no run of the keyed digits, and still holds audio from after the entry (the
processing and approval announcements: it was resumed). The negative control is the same call
without ``pay_recording_path``, so the recording runs through the entry: there the detector
finds every key.

Found with this test on 1.10.12: ``uuid_record mask`` did not keep the keys out. The mask is
applied as audio leaves the recorder's buffer, and after a TTS prompt the mixed recorder holds
the caller's audio while nothing is played (a partial frame of speech on the write side stops
``switch_core_media_bug_read``), so the keys came out, in clear, after ``unmask``. A paused
recorder takes nothing in.
"""
import pytest

from tests.support.live.card_entry import CODE, EXPIRY, PAN_APPROVED, is_field_read, wait_prompt
from tests.support.live.payment_service import PaymentService
from tests.support.live.tones import dtmf_keys, key_in_band, loud_seconds, read_wav, read_wav_channels

KEYED = PAN_APPROVED + "#" + EXPIRY + CODE


def key_runs(keyed, length=4):
    """Every run of ``length`` consecutive keys of what the caller keyed."""
    return {keyed[i:i + length] for i in range(len(keyed) - length + 1)}


# -- the call -------------------------------------------------------------------------------
@pytest.fixture
def recorded_payments(tmp_path, live_switch, control):
    """The Service (sandbox gateway, shipped card_payment flow with a fixed amount) behind a
    harness that makes the line in-band and records it; ``paused`` decides whether the flow is
    told the recording's path (``pay_recording_path``)."""
    line = {"recording": str(tmp_path / "call.wav"), "paused": True, "replies": {}}

    def in_band_recorded_line(channel):
        replies = line["replies"]
        control.canary.in_band_line(control)
        replies["start_dtmf"] = channel.execute("start_dtmf").get("Application-Response", "")
        # each side in its own channel: the caller's keys are searched where no prompt is mixed in
        channel.set_variable("RECORD_STEREO", "true")
        replies["record"] = channel.api("uuid_record %s start %s" % (channel.uuid, line["recording"]))
        if line["paused"]:
            channel.set_variable("pay_recording_path", line["recording"])

    run = PaymentService(tmp_path, live_switch, "LIVE-REC", in_band_recorded_line)
    control.es.command("event plain RECORD_START RECORD_STOP")
    run.start()
    yield run.service, run.sandbox, run.ended, line
    run.stop()


def pay_in_band(control, recorded_payments, paused):
    """One paid call, keyed as tones; returns (a-leg, samples, rate, keys found in the WAV
    mixed as a listener hears it, keys found in each of its channels)."""
    service, sandbox, ended, line = recorded_payments
    line["paused"] = paused
    a_leg = control.call()
    wait_prompt(control, a_leg, "card number")
    key_in_band(control, a_leg, PAN_APPROVED + "#")
    wait_prompt(control, a_leg, "expiry date")
    key_in_band(control, a_leg, EXPIRY)
    wait_prompt(control, a_leg, "security code")
    key_in_band(control, a_leg, CODE)
    outcome = ended.get(timeout=60)
    assert line["replies"]["record"].startswith("+OK"), line["replies"]
    assert outcome.result == "completed"
    [row] = service.store.list()
    assert row["status"] == "approved" and row["card"] == "495247******2387"
    assert len(sandbox.charges) == 1
    control.wait(a_leg, "CHANNEL_HANGUP_COMPLETE", 30)
    control.wait(a_leg, "RECORD_STOP", 10)             # the WAV is complete
    samples, rate = read_wav(line["recording"])
    sides, _ = read_wav_channels(line["recording"])
    assert len(sides) == 2, "RECORD_STEREO gives a channel a side"
    each = ["".join(key for _, key in dtmf_keys(side, rate)) for side in sides]
    return a_leg, samples, rate, dtmf_keys(samples, rate), each


def test_a_paid_call_keyed_in_band_leaves_no_card_digit_in_the_recording(recorded_payments,
                                                                         control):
    a_leg, samples, rate, found, each = pay_in_band(control, recorded_payments, paused=True)
    keys = "".join(key for _, key in found)
    assert [run for run in key_runs(KEYED) if run in keys] == [], keys
    assert [run for run in key_runs(KEYED) for side in each if run in side] == [], each
    assert PAN_APPROVED[-4:] not in keys and CODE not in keys
    # Audio from after the entry is there: paused, the recording holds nothing of the entry, so
    # what follows the audio from before it (the seconds up to the first card prompt) is the
    # announcements of the result, recorded once resumed.
    started = control.wait(a_leg, "RECORD_START", 1)
    entry = next(m for m in control.events(a_leg, "CHANNEL_EXECUTE")
                 if is_field_read(m))
    before_entry = (int(entry.headers["Event-Date-Timestamp"])
                    - int(started.headers["Event-Date-Timestamp"])) / 1e6
    assert loud_seconds(samples, rate, before_entry + 1.0) >= 2.0


def test_without_pausing_the_same_call_leaves_the_keys_in_the_recording(recorded_payments,
                                                                        control):
    """The negative control: the detector finds the keys when the flow does not pause.

    Every run of four keys the paused call is searched for must be found in the caller's side
    of the recording, where no prompt is mixed over the tones (in the mix, a tone under speech
    was missed in some runs). The very last key (the code's last digit) may be cut: the recorder
    still holds it in its buffer when the call ends, and whether it is written then varies.
    """
    _, samples, rate, found, each = pay_in_band(control, recorded_payments, paused=False)
    expected = key_runs(KEYED[:-1])
    caller_side = max(each, key=len)
    assert {run for run in expected if run not in caller_side} == set(), each
