"""Sound folders for ``say`` in English, Spanish and Russian, spoken by espeak-ng.

FreeSWITCH's say modules play one recording per word (``digits/5.wav``, ``currency/and.wav``)
from the sound prefix of the call's language (freeswitch_conf/lang/<lang>/<lang>.xml); a switch
without them logs every missing file as an error and flushes the keys typed ahead. A host with
no sound packs (FreeSWITCH's own are downloads of their own) gets these instead: every file name
the say modules of 1.10.12 ask for, for the amounts, numbers and digit strings the shipped flows
say (up to the millions), each a recording of its own words -- enough for the switch to play
what a site's real recordings would be played for, not a voice anyone should hear.
"""
import os
import shutil
import subprocess

ESPEAK = "espeak-ng"

# the names each module builds (src/mod/say/mod_say_{en,es,ru}); the words are only what
# espeak-ng reads into the file
_UNITS = [str(n) for n in range(0, 100)] + ["%d00" % n for n in range(1, 10)]
NAMES = {
    "en": {"digits": _UNITS + ["hundred", "thousand", "million", "dot"],
           "currency": ["dollar", "dollars", "cent", "cents", "and", "negative", "minus"]},
    "es": {"digits": _UNITS + ["hundred", "hundreds", "veinti", "un", "thousand", "million",
                               "millions", "dot"] + ["h-%d" % n for n in range(1, 10)]
           + ["h-%d0" % n for n in range(1, 10)],
           "currency": ["dollar", "dollars", "cent", "cents", "and", "negative", "minus"]},
    "ru": {"digits": _UNITS + ["1f", "2f", "1n", "thousand", "thousands", "thousands-i",
                               "million", "million-a", "millions", "dot"],
           "currency": ["rubles", "ruble", "ruble-a", "kopecks", "kopeck", "kopeck-i",
                        "dollars", "dollar", "dollara", "centov", "cent", "centa", "minus"]},
}
VOICES = {"en": "en", "es": "es", "ru": "ru"}


def espeak_problem():
    """Why these folders cannot be made here, or None."""
    if shutil.which(ESPEAK) is None:
        return "%s is not installed: the live language tests speak their sounds with it" % ESPEAK
    return None


def words_of(name):
    """What a file holds: its number (``1f`` -> 1), or its name for a word."""
    digits = "".join(c for c in name if c.isdigit())
    return digits or name.replace("-", " ")


def make_say_sounds(root, language, timeout=120.0):
    """``root``/<language> with the say module's files; its path."""
    prefix = os.path.join(root, language)
    jobs = []
    for folder, names in NAMES[language].items():
        os.makedirs(os.path.join(prefix, folder), exist_ok=True)
        for name in names:
            path = os.path.join(prefix, folder, name + ".wav")
            if not os.path.exists(path):
                jobs.append(subprocess.Popen(
                    [ESPEAK, "-v", VOICES[language], "-w", path, words_of(name)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if len(jobs) >= 8:
                jobs.pop(0).wait(timeout=timeout)
    for job in jobs:
        job.wait(timeout=timeout)
    return prefix


def make_money_recordings(root, language, currency, timeout=120.0):
    """``root``/<language>/money/ with a recording of each word the catalog of ``language``
    names for ``currency`` (orchestrator/catalog/money_words.py), spoken by espeak-ng, as a
    site would record them; ``root``, for ``prompts.audio_dir``."""
    from orchestrator.catalog import Catalog
    words = Catalog.load(language).money
    folder = os.path.join(root, language, "money")
    os.makedirs(folder, exist_ok=True)
    files = {"and.wav": words.joiner} if words.joiner else {}
    for unit_name, unit in words.currencies[currency].items():
        for form, text in unit.forms.items():
            files["%s.%s.%s.wav" % (currency, unit_name, form)] = text
        if unit.one:
            files["%s.%s.one_phrase.wav" % (currency, unit_name)] = unit.one
    for name, text in files.items():
        subprocess.run([ESPEAK, "-v", VOICES[language], "-w", os.path.join(folder, name), text],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                       check=True)
    return root
