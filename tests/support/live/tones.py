"""Keys and marker tones as audio on a real switch, and finding them again in a recording.

A caller keying in band plays each key as its DTMF pair of tones (``tone_stream``,
``key_in_band``); a recording is read back (``read_wav``) and searched with a Goertzel detector
for keys (``dtmf_keys``), for one frequency (``tone_seconds``, the marker tones of ``marker``
played with ``play``), or for any sound (``loud_seconds``).
"""
import array
import math
import wave

import gevent

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
    if getattr(control, "canary", None) is not None:
        control.canary.pressed(a_leg, keys)
    reply = control.api("uuid_broadcast %s %s aleg" % (a_leg, tone_stream(keys)))
    assert reply.startswith("+OK"), reply
    gevent.sleep(len(keys) * (TONE_MS + GAP_MS) / 1000.0 + 0.3)


def marker(frequency, ms=800):
    return "tone_stream://%%(%d,0,%d)" % (ms, frequency)


def play(control, leg, path, seconds):
    reply = control.api("uuid_broadcast %s %s aleg" % (leg, path))
    assert reply.startswith("+OK"), reply
    gevent.sleep(seconds)


# -- reading keys and tones back out of a WAV -----------------------------------------------
BLOCK_SECONDS = 0.02


def read_wav_channels(path):
    """(one list of samples a channel, sample rate): a stereo recording (``RECORD_STEREO``) has
    the caller's side alone in one channel, where a key is not mixed with a prompt."""
    with wave.open(path, "rb") as wav:
        assert wav.getsampwidth() == 2, "FreeSWITCH writes PCM16"
        channels, rate = wav.getnchannels(), wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return [list(samples[c::channels]) for c in range(channels)], rate


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
    """[(seconds, key)]: each key that holds for at least two 20 ms blocks, once per press. A
    press ends after two blocks without it (a key is 100 ms, the gap after it as long): one block
    lost in the middle of a tone (a late packet) does not make it two presses."""
    size = int(rate * BLOCK_SECONDS)
    coefficients = [2.0 * math.cos(2.0 * math.pi * f / rate) for f in ROWS + COLUMNS]
    found, previous, held, reported, missing = [], None, 0, None, 0
    for start in range(0, len(samples) - size + 1, size):
        key = _block_key(samples[start:start + size], coefficients)
        if key is None:
            missing += 1
            if missing >= 2:
                reported = None             # the press is over
            previous, held = None, 0
            continue
        missing = 0
        held = held + 1 if key == previous else 1
        previous = key
        if held >= 2 and reported != key:
            found.append((start / rate, key))
            reported = key
    return found


def keys_between(found, start, end):
    return "".join(key for at, key in found if start <= at < end)


def loud_seconds(samples, rate, start_seconds=0.0):
    """Seconds of audio louder than about -50 dBFS from ``start_seconds`` on."""
    size = int(rate * BLOCK_SECONDS)
    loud = 0
    for start in range(int(start_seconds * rate), len(samples) - size + 1, size):
        block = samples[start:start + size]
        if sum(x * x for x in block) / size > 100.0 ** 2:
            loud += 1
    return loud * BLOCK_SECONDS


def tone_seconds(samples, rate, frequency, start, end):
    """Seconds between ``start`` and ``end`` in which ``frequency`` dominates the audio."""
    size = int(rate * BLOCK_SECONDS)
    coefficient = 2.0 * math.cos(2.0 * math.pi * frequency / rate)
    found = 0
    for first in range(max(0, int(start * rate)), min(len(samples), int(end * rate)) - size + 1, size):
        block = samples[first:first + size]
        energy = sum(x * x for x in block)
        if energy / size < 100.0 ** 2:
            continue
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coefficient * s1 - s2, s1
        power = 2.0 * (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / size
        if power > 0.5 * energy:
            found += 1
    return found * BLOCK_SECONDS
