"""The live suite's key detector (tests/support/live/tones.py) on tones made here: every key
once, repeated keys each time, and a tone with one lost block still one press."""
import math

from tests.support.live.tones import COLUMNS, KEYPAD, ROWS, dtmf_keys

RATE = 8000


def tones(keys, tone_ms=100, gap_ms=100, lose=None):
    """PCM samples of ``keys`` as DTMF; ``lose=(index, ms_into_tone)`` blanks 20 ms of one."""
    samples = []
    for index, key in enumerate(keys):
        row = next(r for r, line in enumerate(KEYPAD) if key in line)
        low, high = ROWS[row], COLUMNS[KEYPAD[row].index(key)]
        tone = [int(8000 * (math.sin(2 * math.pi * low * n / RATE) + math.sin(2 * math.pi * high * n / RATE)))
                for n in range(RATE * tone_ms // 1000)]
        if lose and lose[0] == index:
            start = RATE * lose[1] // 1000
            tone[start:start + RATE // 50] = [0] * (RATE // 50)
        samples += tone + [0] * (RATE * gap_ms // 1000)
    return samples


def keys_of(samples):
    return "".join(key for _, key in dtmf_keys(samples, RATE))


def test_every_key_once():
    assert keys_of(tones("4952471286562387#0829073")) == "4952471286562387#0829073"


def test_a_repeated_key_is_each_press():
    assert keys_of(tones("1111")) == "1111"


def test_a_block_lost_inside_a_tone_is_still_one_press():
    assert keys_of(tones("6233", tone_ms=140, lose=(1, 60))) == "6233"
