"""A recording of a paid call holds no card digit, with the caller keying them as tones.

Keys sent with ``uuid_send_dtmf`` travel out of band and never reach a recording, so a check on
such a call would pass whatever the flow did to the recording. Here the caller's keys are
audio: the a-leg plays them as DTMF tones (``uuid_broadcast <a-leg> tone_stream://...``), and
the b-leg, which the orchestrator drives, has ``start_dtmf`` (in-band detection) running, as a
line carrying its keys in band would, so they reach ``play_and_get_digits``. The harness also
starts ``uuid_record <b-leg> start <wav>`` when the call arrives, before the shipped
card_payment flow runs, and names that file in ``pay_recording_path``, from which collect_card
pauses it during entry.

The WAV is then searched for DTMF with a Goertzel detector written here. The paid call's
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
import array
import math
import wave

import gevent
import pytest

from tests.live.payment_service import PaymentService
from tests.live.test_card_payments import PAN_APPROVED, wait_prompt

EXPIRY, CODE = "1230", "737"
KEYED = PAN_APPROVED + "#" + EXPIRY + CODE

# -- the caller's keys, as tones ------------------------------------------------------------
ROWS = (697, 770, 852, 941)
COLUMNS = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
TONE_MS, GAP_MS = 100, 100


def tone_stream(keys):
    """``tone_stream://`` playing ``keys`` as DTMF: 100 ms of each pair, 100 ms apart."""
    parts = []
    for key in keys:
        row = next(r for r, line in enumerate(KEYPAD) if key in line)
        parts.append("%%(%d,%d,%d,%d)" % (TONE_MS, GAP_MS, ROWS[row], COLUMNS[KEYPAD[row].index(key)]))
    return "tone_stream://" + ";".join(parts)


def key_in_band(control, a_leg, keys):
    """Play the keys on the caller's leg and wait until they have been heard."""
    reply = control.api("uuid_broadcast %s %s aleg" % (a_leg, tone_stream(keys)))
    assert reply.startswith("+OK"), reply
    gevent.sleep(len(keys) * (TONE_MS + GAP_MS) / 1000.0 + 0.3)


# -- reading DTMF back out of a WAV ---------------------------------------------------------
BLOCK_SECONDS = 0.02


def read_wav(path):
    """(samples as one mono channel, sample rate): a stereo file is summed, as a listener hears it."""
    with wave.open(path, "rb") as wav:
        assert wav.getsampwidth() == 2, "FreeSWITCH writes PCM16"
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    if channels > 1:
        samples = [sum(samples[i:i + channels]) for i in range(0, len(samples), channels)]
    return list(samples), rate


def _power(block, coefficient):
    """Goertzel: the energy of ``block`` at one frequency, in the units of sum(x*x)."""
    s1 = s2 = 0.0
    for x in block:
        s1, s2 = x + coefficient * s1 - s2, s1
    return 2.0 * (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / len(block)


def _block_key(block, coefficients):
    energy = sum(x * x for x in block)
    if energy / len(block) < 30.0 ** 2:           # quieter than about -60 dBFS: no key
        return None
    rows = [_power(block, c) for c in coefficients[:4]]
    cols = [_power(block, c) for c in coefficients[4:]]
    row, col = max(range(4), key=rows.__getitem__), max(range(4), key=cols.__getitem__)
    top_row, top_col = rows[row], cols[col]
    if (top_row + top_col) < 0.7 * energy:          # a key is two pure tones and little else
        return None
    if not 0.16 < top_row / top_col < 6.3:          # twist within 8 dB
        return None
    if any(p > top_row / 10 for i, p in enumerate(rows) if i != row):
        return None
    if any(p > top_col / 10 for i, p in enumerate(cols) if i != col):
        return None
    return KEYPAD[row][col]


def dtmf_keys(samples, rate):
    """[(seconds, key)]: each key that holds for at least two 20 ms blocks, once per press."""
    size = int(rate * BLOCK_SECONDS)
    coefficients = [2.0 * math.cos(2.0 * math.pi * f / rate) for f in ROWS + COLUMNS]
    found, previous, held, reported = [], None, 0, False
    for start in range(0, len(samples) - size + 1, size):
        key = _block_key(samples[start:start + size], coefficients)
        if key is not None and key == previous:
            held += 1
        else:
            previous, held, reported = key, 1, False
        if key is not None and held >= 2 and not reported:
            found.append((start / rate, key))
            reported = True
    return found


def loud_seconds(samples, rate, start_seconds=0.0):
    """Seconds of audio louder than about -50 dBFS from ``start_seconds`` on."""
    size = int(rate * BLOCK_SECONDS)
    loud = 0
    for start in range(int(start_seconds * rate), len(samples) - size + 1, size):
        block = samples[start:start + size]
        if sum(x * x for x in block) / size > 100.0 ** 2:
            loud += 1
    return loud * BLOCK_SECONDS


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
        replies["start_dtmf"] = channel.execute("start_dtmf").get("Application-Response", "")
        replies["record"] = channel.api("uuid_record %s start %s" % (channel.uuid, line["recording"]))
        if line["paused"]:
            channel.set_variable("pay_recording_path", line["recording"])

    run = PaymentService(tmp_path, live_switch, "LIVE-REC", in_band_recorded_line)
    control.es.command("event plain RECORD_START RECORD_STOP")
    run.start()
    yield run.service, run.sandbox, run.ended, line
    run.stop()


def pay_in_band(control, recorded_payments, paused):
    """One paid call, keyed as tones; returns (a-leg, samples, rate, keys found in the WAV)."""
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
    assert row["status"] == "approved" and row["card"] == "411111******1111"
    assert len(sandbox.charges) == 1
    control.wait(a_leg, "CHANNEL_HANGUP_COMPLETE", 30)
    control.wait(a_leg, "RECORD_STOP", 10)             # the WAV is complete
    samples, rate = read_wav(line["recording"])
    return a_leg, samples, rate, dtmf_keys(samples, rate)


def test_a_paid_call_keyed_in_band_leaves_no_card_digit_in_the_recording(recorded_payments,
                                                                         control):
    a_leg, samples, rate, found = pay_in_band(control, recorded_payments, paused=True)
    keys = "".join(key for _, key in found)
    assert [run for run in key_runs(KEYED) if run in keys] == [], keys
    assert PAN_APPROVED[-4:] not in keys and CODE not in keys
    # Audio from after the entry is there: paused, the recording holds nothing of the entry, so
    # what follows the audio from before it (the seconds up to the first card prompt) is the
    # announcements of the result, recorded once resumed.
    started = control.wait(a_leg, "RECORD_START", 1)
    entry = next(m for m in control.events(a_leg, "CHANNEL_EXECUTE")
                 if m.headers.get("Application") == "play_and_get_digits")
    before_entry = (int(entry.headers["Event-Date-Timestamp"])
                    - int(started.headers["Event-Date-Timestamp"])) / 1e6
    assert loud_seconds(samples, rate, before_entry + 1.0) >= 2.0


def test_without_pausing_the_same_call_leaves_the_keys_in_the_recording(recorded_payments,
                                                                        control):
    """The negative control: the detector finds the keys when the flow does not pause.

    The whole card number and the expiry must be found. The very last key (the code's last
    digit) may be cut: the recorder still holds it in its buffer when the call ends, and
    whether it is written then varies from run to run on 1.10.12.
    """
    _, samples, rate, found = pay_in_band(control, recorded_payments, paused=False)
    keys = "".join(key for _, key in found)
    assert KEYED[:-1] in keys, keys
