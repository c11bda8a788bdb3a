"""The shipped catalogs say the same things: every prompt, decline reason and SMS message in
each language, with the same placeholders as English, so a step that fills a prompt in English
fills it in every language (a missing key would otherwise fail mid-call). A new catalog
dropped into orchestrator/catalog is checked here without touching this file."""
import glob
import os
import string

import pytest

from orchestrator.catalog import HERE, SAY_GENDERS, Catalog, CatalogError
from orchestrator.payments.gateways.results import DECLINE_CODES, DECLINE_TEXTS, GENERIC_REASON

LANGUAGES = sorted(os.path.basename(p)[:-len(".yaml")] for p in glob.glob(os.path.join(HERE, "*.yaml")))
OTHERS = [language for language in LANGUAGES if language != "en"]


def names(text):
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def placeholders(catalog, key):
    return sorted(name for segment in catalog.segments(key)
                  for text in (segment.value, segment.text) for name in names(text))


def shape(catalog, key):
    """The segment forms of a prompt (and the kind of each say): what the caller hears is
    built alike in every language."""
    return [(s.form, s.options.get("kind")) for s in catalog.segments(key)]


@pytest.fixture(scope="module")
def english():
    return Catalog.load("en")


def test_en_es_and_ru_are_shipped():
    assert {"en", "es", "ru"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", OTHERS)
def test_every_catalog_has_exactly_the_english_prompts_and_placeholders(english, language):
    catalog = Catalog.load(language)
    assert set(catalog.prompts) == set(english.prompts), (
        "missing: %s; extra: %s" % (sorted(set(english.prompts) - set(catalog.prompts)),
                                    sorted(set(catalog.prompts) - set(english.prompts))))
    for key in sorted(english.prompts):
        assert placeholders(catalog, key) == placeholders(english, key), key
        assert shape(catalog, key) == shape(english, key), key


@pytest.mark.parametrize("language", OTHERS)
def test_every_catalog_has_exactly_the_english_reasons_and_messages(english, language):
    catalog = Catalog.load(language)
    assert set(catalog.reasons) == set(english.reasons)
    assert all(str(words).strip() for words in catalog.reasons.values())
    assert set(catalog.messages) == set(english.messages)
    for key, text in english.messages.items():
        assert sorted(names(catalog.messages[key])) == sorted(names(text)), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalog_names_its_language_voice_and_say_settings(language):
    catalog = Catalog.load(language)
    assert catalog.language == language and catalog.say_language
    assert (catalog.tts_engine == "") == (catalog.tts_voice == "")   # both, or the service's
    assert set(catalog.say_gender) <= {"number", "currency", "digits", "date"}
    assert set(catalog.say_gender.values()) <= set(SAY_GENDERS)


def test_the_reasons_are_every_decline_code_and_the_record_speaks_english(english):
    assert set(english.reasons) == set(DECLINE_CODES) | {GENERIC_REASON}
    assert DECLINE_TEXTS == {code: english.reasons[code] for code in DECLINE_CODES}


def test_spanish_and_russian_are_not_read_by_the_english_voice():
    for language in ("es", "ru"):
        catalog = Catalog.load(language)
        assert catalog.tts_engine and catalog.tts_engine != "flite", language


def test_russian_is_written_in_cyrillic():
    catalog = Catalog.load("ru")
    for key, segments in catalog.prompts.items():
        for segment in segments:
            words = segment.text if segment.form == "file" else segment.value
            letters = [c for c in words if c.isalpha() and c not in "SMS"]
            if letters and not names(words):
                assert all("\u0400" <= c <= "\u04ff" for c in letters), (key, words)


def test_a_catalog_with_a_bad_voice_or_gender_is_refused(tmp_path):
    (tmp_path / "xx.yaml").write_text("tts: {engine: flite, speed: 2}\nprompts: {}\n")
    with pytest.raises(CatalogError, match="tts: takes engine: and voice: only"):
        Catalog.load("xx", str(tmp_path))
    (tmp_path / "yy.yaml").write_text("say_gender: {currency: female}\nprompts: {}\n")
    with pytest.raises(CatalogError, match="say_gender.currency must be one of MASCULINE"):
        Catalog.load("yy", str(tmp_path))
    (tmp_path / "zz.yaml").write_text('prompts: {a: [{say: "{n}", kind: number, gender: male}]}\n')
    with pytest.raises(CatalogError, match="prompt a: gender must be one of MASCULINE"):
        Catalog.load("zz", str(tmp_path))


def test_a_say_segment_may_carry_its_own_gender(tmp_path):
    (tmp_path / "zz.yaml").write_text("say_gender: {number: FEMININE}\nprompts:\n"
                                      '  a: [{say: "{n}", kind: number, gender: neuter}]\n'
                                      '  b: [{say: "{n}", kind: number}]\n')
    catalog = Catalog.load("zz", str(tmp_path))
    assert catalog.gender("number", catalog.segments("a")[0]) == "NEUTER"
    assert catalog.gender("number", catalog.segments("b")[0]) == "FEMININE"
    assert catalog.gender("currency") == "FEMININE"     # no say_gender for it: the default


def test_a_changed_catalog_file_is_read_again(tmp_path):
    path = tmp_path / "zz.yaml"
    path.write_text("reasons: {generic: one}\nprompts: {}\n")
    assert Catalog.load("zz", str(tmp_path)).reason("x") == "one"
    assert Catalog.load("zz", str(tmp_path)) is Catalog.load("zz", str(tmp_path))   # parsed once
    path.write_text("reasons: {generic: second}\nprompts: {}\n")
    assert Catalog.load("zz", str(tmp_path)).reason("x") == "second"


@pytest.mark.parametrize("language", OTHERS)
def test_every_catalog_names_the_currencies_english_names(english, language):
    """An amount in a currency one language names and another does not would be read out as
    "12.50 EUR" in the other (catalog/money_words.py)."""
    catalog = Catalog.load(language)
    assert set(catalog.money.currencies) == set(english.money.currencies)
    for code, units in english.money.currencies.items():
        assert set(catalog.money.currencies[code]) == set(units), code


def test_each_catalog_has_its_own_name(english):
    names = {language: Catalog.load(language).name for language in LANGUAGES}
    assert names["en"] == "English" and names["es"] == "Español" and names["ru"] == "Русский"
