"""The shipped card payment paid in Spanish and in Russian on a real FreeSWITCH.

The caller's ``pay_language`` (es, ru) picks the catalog (orchestrator/catalog/es.yaml,
ru.yaml): its words are spoken by the engine and voice its ``tts:`` names (tts_commandline with
espeak-ng, freeswitch_conf/autoload_configs/tts_commandline.conf.xml), its digits and, where the
site recorded its currency words, the counts of its amounts by the switch's say module of its
``say_language`` (mod_say_es, mod_say_ru); never the module's own CURRENCY, which would name
dollars or roubles whatever the amount's currency (orchestrator/catalog/money_words.py); all
through the
secure-entry script (docs/secure-entry.md) as on every payment call. For Russian the script sets
the channel variable ``gender`` from the seventh field of a say segment before the say, since
mod_say_ru reads it instead of say's gender argument.

Each test pays with the sandbox gateway and then looks at what the switch itself did: the say
module's files played from the language's sound prefix (PLAYBACK_START events of an extra
client on ``event plain ALL``), mod_say_ru's own log line with the gender it used, the
tts_commandline commands the switch ran, no error about a say or TTS module in the log, and the
card canary (tests/support/live/canary.py) over every event, log line and CDR. A copy of the
Russian catalog with FEMININE and NEUTER genders shows the variable really drives mod_say_ru
(MASCULINE is also what it does with no variable); a Russian payment in roubles with the rouble
and kopeck words recorded has each count said by mod_say_ru in its unit's gender (21 рубль,
2 копейки: feminine, две); a Russian call on an extension without sensitive_dtmf has such an amount
said by dptools ``say``, the variable set by ``uuid_setvar`` before each count; a
control shows the log check finding what the switch writes for an unknown say language and
an unloaded TTS engine.

These tests start their own switch (``FREESWITCH_BIN``), with sound folders for ``say`` in the
three languages made by espeak-ng (tests/support/live/say_sounds.py): a lab switch has no
FreeSWITCH sound packs. On a running switch (``FREESWITCH_ESL_PASSWORD``) its own sounds are
used. Without mod_say_es, mod_say_ru or mod_tts_commandline loaded the tests skip, naming it.
"""
import json
import os
import re
import tempfile
from urllib.parse import unquote

import pytest

from orchestrator import catalog as catalog_module
from orchestrator.catalog import Catalog, PromptRenderer
from orchestrator.esl.channel import SAY_GENDER_VARIABLES
from tests.support.live.fsprocess import PLAIN_CONTEXT, PLAIN_EXTENSION
from tests.support.live.payment_service import PaymentService
from tests.support.live.say_sounds import espeak_problem, make_money_recordings, make_say_sounds
from tests.support.live.switches import running_switch, start_switch

CATALOGS = os.path.dirname(os.path.abspath(catalog_module.__file__))
PAN = "4952471286562387"
EXPIRY, CODE = "0829", "073"
LANGUAGE_MODULES = {"es": ("mod_say_es", "mod_tts_commandline"),
                    "ru": ("mod_say_ru", "mod_tts_commandline")}
# words of each catalog's field prompts (the read's pay_secure_prompt), as card_entry's English
FIELD_WORDS = {"es": ("número de su tarjeta", "caducidad", "código de seguridad"),
               "ru": ("номер карты", "срок действия", "код безопасности")}
# what the switch logs when a say or TTS module is missing or refuses what it was given
MODULE_TROUBLE = re.compile(r"Invalid SAY Interface|Invalid TTS|Invalid speech module|"
                            r"not found|Can't open|Can't find language|Failed to execute|Failed to open file|"
                            r"Parse Error|Invalid (?:mode|type|method|gender)", re.I)
SAY_OR_TTS = re.compile(r"say|tts|speak|espeak|\.wav|sound|file|language", re.I)


@pytest.fixture(scope="module")
def live_switch():
    """This module's switch: the suite's conftest's, but with sound folders for say in en, es
    and ru when the suite starts it itself."""
    env = os.environ
    if env.get("FREESWITCH_ESL_PASSWORD"):
        yield running_switch(env)
        return
    if not env.get("FREESWITCH_BIN"):
        pytest.skip("set FREESWITCH_BIN (or FREESWITCH_ESL_PASSWORD) for the live language tests")
    problem = espeak_problem()
    if problem:
        pytest.skip(problem)
    root = tempfile.mkdtemp(prefix="fs-say-sounds-")
    prefixes = {language: make_say_sounds(root, language) for language in ("en", "es", "ru")}
    with start_switch(env["FREESWITCH_BIN"], prefixes["en"],
                      env={"FS_SOUND_PREFIX_ES": prefixes["es"],
                           "FS_SOUND_PREFIX_RU": prefixes["ru"]}) as switch:
        switch.say_prefixes = prefixes
        yield switch


# the shipped catalogs, or a copy whose ru.yaml names other say genders than MASCULINE (the
# value mod_say_ru also takes when no gender variable is set at all), or a Russian payment in
# roubles whose unit words the site recorded (its counts then go through mod_say_ru)
CASES = {"es": ("es", None, None), "ru": ("ru", None, None),
         "ru-feminine-and-neuter": ("ru", {"number": "FEMININE", "digits": "NEUTER"}, None),
         "ru-recorded-roubles": ("ru", None, ("2102", "RUB"))}
AMOUNT = ("1250", "EUR")


@pytest.fixture(params=sorted(CASES))
def case(request, tmp_path):
    """(language, catalog directory or None for the shipped catalogs, (amount, currency),
    audio folder or None)."""
    language, genders, money = CASES[request.param]
    money = money or AMOUNT
    audio = (make_money_recordings(str(tmp_path / "audio"), language, money[1])
             if request.param.endswith("-recorded-roubles") else None)
    if genders is None:
        return language, None, money, audio
    directory = tmp_path / "catalogs"
    directory.mkdir()
    for name in ("en", "es", "ru"):
        text = open(os.path.join(CATALOGS, name + ".yaml"), encoding="utf-8").read()
        if name == language:
            changed = re.sub(r"(?m)^say_gender: .*$", "say_gender: %s" % json.dumps(genders), text)
            assert changed != text
            text = changed
        (directory / (name + ".yaml")).write_text(text, encoding="utf-8")
    return language, str(directory), money, audio


@pytest.fixture
def payments(tmp_path, live_switch, control, canary, case):
    _, catalog_dir, (amount, currency), audio = case
    prompts = {}
    if catalog_dir:
        prompts["catalog_dir"] = catalog_dir
    if audio:
        prompts.update(audio_dir=audio, audio="auto")
    run = PaymentService(tmp_path, live_switch, "LIVE-LANG",
                         lambda channel: channel.set_variable("hangup_complete_with_xml", "true"),
                         amount=amount, currency=currency,
                         **({"prompts": prompts} if prompts else {}))
    canary.secret(EXPIRY, CODE)
    run.start()
    yield run
    run.stop()


def amount_words(catalog, amount, currency):
    """The phrase a catalog without recordings has the voice say for the amount."""
    [prompt] = PromptRenderer(catalog, None, "", "never", "", "").amount(
        "%d.%02d" % divmod(int(amount), 100), currency)
    return prompt.value


def speak_segments(control, caller):
    """The texts of the speak segments handed to the script (pay_secure_play)."""
    found = []
    for message in control.events(caller, "CHANNEL_EXECUTE"):
        if message.headers.get("Application") == "lua":
            for segment in filter(None, (message.headers.get("variable_pay_secure_play") or "").split("&")):
                fields = [unquote(f) for f in segment.split(",")]
                if fields[0] == "speak":
                    found.append(fields[-1])
    return found


def require_modules(control, language):
    missing = [m for m in LANGUAGE_MODULES[language]
               if control.api("module_exists %s" % m).strip() != "true"]
    if missing:
        pytest.skip("the switch has no %s (freeswitch_conf/autoload_configs/modules.conf.xml "
                    "loads it; build it from src/mod of FreeSWITCH)" % ", ".join(missing))


def secure_reads(control, caller, words=""):
    return [m for m in control.events(caller, "CHANNEL_EXECUTE")
            if m.headers.get("Application") == "lua" and " read " in m.headers.get("Application-Data", "")
            and words in m.headers.get("variable_pay_secure_prompt", "")]


def wait_field(control, caller, words, timeout=60):
    return control.es.wait_for(lambda m: secure_reads(control, caller, words), timeout,
                               "the prompt %r" % words)


def key_card_in(control, caller, language):
    number, expiry, code = FIELD_WORDS[language]
    wait_field(control, caller, number)
    control.press(caller, PAN + "#")
    wait_field(control, caller, expiry)
    control.press(caller, EXPIRY)
    wait_field(control, caller, code)
    control.press(caller, CODE)


def say_segments(control, caller):
    """The say segments the orchestrator handed the script (pay_secure_play), decoded:
    [[lang, type, method, gender, value(, gender variable)], ...]."""
    found = []
    for message in control.events(caller, "CHANNEL_EXECUTE"):
        if message.headers.get("Application") != "lua":
            continue
        play = message.headers.get("variable_pay_secure_play") or ""
        for segment in filter(None, play.split("&")):
            fields = [unquote(f) for f in segment.split(",")]
            if fields[0] == "say":
                found.append(fields[1:])
    return found


def played_files(canary, leg):
    return [m.get("Playback-File-Path") or "" for m in canary.watchers.plain.messages
            if m.event_name == "PLAYBACK_START" and m.get("Unique-ID") == leg]


def sound_names(files):
    """Each recording a playback named (a say module's ``file_string://a!b`` one by one)."""
    names = []
    for path in files:
        names += path[len("file_string://"):].split("!") if path.startswith("file_string://") \
            else [path]
    return [n for n in names if n]


def from_prefix(name, prefix):
    """A say module's file from the sound prefix ``prefix``: given whole, or relative to it
    (the switch finds relative names in the channel's sound_prefix, the language's)."""
    if os.path.isabs(name):
        return name.startswith(prefix + os.sep)
    return "://" not in name and os.path.exists(os.path.join(prefix, name))


def switch_log(canary):
    """The switch's log since the test began: its file when the suite started the switch, else
    what the log stream client received (a running switch's file is not ours to read)."""
    lines = canary.watchers.log_file_lines()
    if lines:
        return lines
    return [m.body for m in canary.watchers.log.messages if m.content_type == "log/data"]


def payment_leg(control, caller):
    [leg] = {m.headers["Unique-ID"] for m in control.events(caller, "CHANNEL_EXECUTE")}
    return leg


def test_card_payment_paid_in_the_callers_language(case, payments, control, canary, live_switch):
    language, catalog_dir, (amount, currency), audio = case
    require_modules(control, language)
    catalog = Catalog.load(language, catalog_dir)
    caller = control.call(variables={"pay_language": language})
    key_card_in(control, caller, language)
    outcome = payments.ended.get(timeout=90)
    control.hang_up(caller)

    # paid
    [row] = payments.service.store.list()
    assert row["status"] == "approved" and row["card"].endswith(PAN[-4:]), row
    assert len(payments.sandbox.charges) == 1
    assert outcome.result == "completed", outcome
    canary.assert_clean()           # no card digit, expiry or code anywhere, after hang-up
    leg = payment_leg(control, caller)
    complete = control.wait(caller, "CHANNEL_HANGUP_COMPLETE", 30)
    assert complete.headers.get("variable_pay_result") == "approved"

    # the amount in its own currency's words; counts and the last four by the say module
    segments = say_segments(control, caller)
    kinds = [s[1] for s in segments]
    assert "CURRENCY" not in kinds and set(kinds) == {"NUMBER"}, segments
    assert {s[0] for s in segments} == {catalog.say_language}, segments
    files = played_files(canary, leg)
    if audio:   # each count in its unit's gender, between the site's recordings
        recorded = os.path.join(audio, language, "money")
        assert segments[:2] == [
            [catalog.say_language, "NUMBER", "pronounced", "MASCULINE", "21", "male"],
            [catalog.say_language, "NUMBER", "pronounced", "FEMININE", "2", "female"]], segments
        assert [f for f in files if f.startswith(recorded)] == [
            os.path.join(recorded, "RUB.major.one.wav"),
            os.path.join(recorded, "RUB.minor.few.wav")], files
        rest = segments[2:]
    else:       # one phrase in the catalog's voice
        assert amount_words(catalog, amount, currency) in speak_segments(control, caller)
        rest = segments
    for fields in rest:
        kind = "digits" if fields[2] == "iterated" else "number"
        assert fields[3] == catalog.gender(kind), (fields, catalog.gender(kind))
    # the switch's own <language> for the code names that module (lang/<lang>/<lang>.xml)
    language_xml = control.api("xml_locate languages language name %s" % catalog.say_language)
    assert 'say-module="%s"' % catalog.say_language in language_xml, language_xml[:300]
    if getattr(live_switch, "say_prefixes", None):
        prefix = live_switch.say_prefixes[language]
        said = [n for n in sound_names(files) if not (audio and n.startswith(audio))]
        assert [n for n in said if not from_prefix(n, prefix)] == [], (prefix, files)
        assert any("digits/" in n for n in said), files
        assert not any("currency/" in n for n in said), files   # never the module's currency
    log = switch_log(canary)

    if language == "ru":
        name, values = SAY_GENDER_VARIABLES["ru"]
        for fields in segments:
            assert fields[5:] == [values[fields[3]]], fields   # the variable the script sets
        # mod_say_ru tells the gender it used (say_opt.gender: male 0, it 1, female 2)
        used = re.findall(r"ru_say!!!  (.*?)!   say_opt\.gender=(\d+)", "\n".join(log))
        assert used, "no ru_say line: mod_say_ru did not run"
        wanted = {"male": "0", "it": "1", "female": "2"}
        assert used == [(s[4], wanted[values[s[3]]]) for s in segments], (used, segments)

    # the words through the catalog's TTS engine and voice, without a switch error
    engine, voice = catalog.tts_engine, catalog.tts_voice
    reads = secure_reads(control, caller)
    assert reads and {m.headers.get("variable_tts_engine") for m in reads} == {engine}
    assert {m.headers.get("variable_tts_voice") for m in reads} == {voice}
    if engine == "tts_commandline" and live_switch.process is not None:
        ran = [line for line in log if "Executing: espeak-ng" in line]
        assert ran and all("-v '%s'" % voice in line for line in ran), ran[:3]
    assert module_trouble(log) == [], module_trouble(log)[:10]


def module_trouble(log):
    """The log lines in which the switch says a say or TTS module is missing or refused."""
    return [line for line in log if SAY_OR_TTS.search(line)
            and (MODULE_TROUBLE.search(line) or "[ERR]" in line or "[CRIT]" in line)]


# -- control ------------------------------------------------------------------------------------
@pytest.fixture
def broken_catalogs(tmp_path):
    """The shipped catalogs, es.yaml naming a say language and a TTS engine the switch has not."""
    directory = tmp_path / "broken-catalogs"
    directory.mkdir()
    for name in ("en", "es", "ru"):
        text = open(os.path.join(CATALOGS, name + ".yaml"), encoding="utf-8").read()
        if name == "es":
            text = re.sub(r"(?m)^say_language: es$", "say_language: xx", text)
            text = re.sub(r"(?m)^tts: .*$", "tts: {engine: no_such_tts, voice: es}", text)
        (directory / (name + ".yaml")).write_text(text, encoding="utf-8")
    return str(directory)


def test_control_a_say_module_and_a_tts_engine_the_switch_has_not_are_found_in_its_log(
        tmp_path, live_switch, control, canary, broken_catalogs):
    """What the language tests look for in the log is what the real switch writes when a
    catalog names a module it has not loaded: without this the check could pass on anything."""
    if espeak_problem():
        pytest.skip(espeak_problem())
    # the euro words recorded: the amount's counts go through say (in the missing language)
    audio = make_money_recordings(str(tmp_path / "audio"), "es", "EUR")
    run = PaymentService(tmp_path, live_switch, "LIVE-LANG-BROKEN", lambda channel: None,
                         prompts={"catalog_dir": broken_catalogs, "audio_dir": audio,
                                  "audio": "auto"})
    run.start()
    try:
        caller = control.call(variables={"pay_language": "es"})
        try:
            wait_field(control, caller, FIELD_WORDS["es"][0], timeout=30)
        finally:
            control.hang_up(caller)
        run.ended.get(timeout=60)
    finally:
        run.stop()
    canary.settle()
    trouble = "\n".join(module_trouble(switch_log(canary)))
    # switch_ivr_say looks the language up first: a code with no <language> stops there
    assert "Can't find language xx" in trouble, trouble
    assert "no_such_tts" in trouble, trouble


# -- the plain path: dptools say, gender by uuid_setvar -------------------------------------------
def test_russian_amount_said_by_dptools_say_with_the_gender_variable_set_before(
        tmp_path, live_switch, control, canary):
    """On an extension without sensitive_dtmf the amount is announced before card entry makes
    the call secure: the Channel's plain path, dptools ``say`` with mod_say_ru for each count
    of 21.02 RUB (the rouble and kopeck words recorded), the ``gender`` variable set by
    ``uuid_setvar`` before each: male for 21 рубль, female for 2 копейки. No key is pressed."""
    require_modules(control, "ru")
    if espeak_problem():
        pytest.skip(espeak_problem())
    audio = make_money_recordings(str(tmp_path / "audio"), "ru", "RUB")
    run = PaymentService(tmp_path, live_switch, "LIVE-LANG-PLAIN", lambda channel: None,
                         amount="2102", currency="RUB",
                         prompts={"audio_dir": audio, "audio": "auto"})
    run.start()
    name, values = SAY_GENDER_VARIABLES["ru"]
    caller = control.call(variables={"pay_language": "ru"}, extension=PLAIN_EXTENSION,
                          context=PLAIN_CONTEXT)
    try:
        wait_field(control, caller, FIELD_WORDS["ru"][0])
    finally:
        control.hang_up(caller)
        run.ended.get(timeout=60)
        run.stop()
    canary.settle()
    said = [m for m in control.events(caller, "CHANNEL_EXECUTE")
            if m.headers.get("Application") == "say"]
    assert [(m.headers.get("Application-Data"), m.headers.get("variable_" + name)) for m in said] == [
        ("ru NUMBER pronounced MASCULINE 21", "male"),
        ("ru NUMBER pronounced FEMININE 2", "female")]      # each set before its say
    recorded = os.path.join(audio, "ru", "money")
    played = [m.headers.get("Application-Data") for m in control.events(caller, "CHANNEL_EXECUTE")
              if m.headers.get("Application") == "playback"]
    assert [p for p in played if p.startswith(recorded)] == [
        os.path.join(recorded, "RUB.major.one.wav"), os.path.join(recorded, "RUB.minor.few.wav")]
    log = switch_log(canary)
    used = re.findall(r"ru_say!!!  (.*?)!   say_opt\.gender=(\d+)", "\n".join(log))
    assert used == [("21", "0"), ("2", "2")], used
    done = [m for m in control.events(caller, "CHANNEL_EXECUTE_COMPLETE")
            if m.headers.get("Application") == "say"]
    assert len(done) == 2
    assert not any("not found" in (m.headers.get("Application-Response") or "").lower() for m in done)
    assert module_trouble(log) == [], module_trouble(log)[:10]
