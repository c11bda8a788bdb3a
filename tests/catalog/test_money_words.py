"""Amounts said in their own currency's words, in the plural form each count takes
(orchestrator/catalog/money_words.py), never in the say module's one currency."""
import logging
import os

import pytest

from orchestrator.catalog import Catalog, CatalogError, PromptRenderer
from orchestrator.catalog.money_words import MoneyWords, MoneyWordsError, plural_form


@pytest.mark.parametrize("count,form", [(1, "one"), (0, "other"), (2, "other"), (11, "other"),
                                        (21, "other"), (101, "other")])
def test_one_other(count, form):
    assert plural_form("one_other", count) == form


@pytest.mark.parametrize("count,form", [
    (1, "one"), (21, "one"), (101, "one"), (1001, "one"),
    (2, "few"), (3, "few"), (4, "few"), (22, "few"), (34, "few"), (102, "few"),
    (0, "many"), (5, "many"), (11, "many"), (12, "many"), (13, "many"), (14, "many"),
    (15, "many"), (20, "many"), (111, "many"), (112, "many"), (1000, "many")])
def test_one_few_many_is_the_russian_rule(count, form):
    assert plural_form("one_few_many", count) == form


def spoken(language, amount, currency):
    """The amount as the shipped catalog has it said, with no recordings: one phrase."""
    renderer = PromptRenderer(Catalog.load(language), None, "", "never", "flite", "kal")
    [prompt] = renderer.amount(amount, currency)
    assert prompt.kind == "speak"
    return prompt.value


@pytest.mark.parametrize("language,amount,currency,words", [
    ("en", "12.50", "EUR", "12 euros and 50 cents"),
    ("en", "1.01", "USD", "1 dollar and 1 cent"),
    ("en", "12.00", "GBP", "12 pounds"),                 # no "and zero pence"
    ("en", "0.50", "GBP", "50 pence"),                   # no "zero pounds and"
    ("en", "1250", "JPY", "1250 yen"),                   # no minor unit at all
    ("es", "12.50", "EUR", "12 euros con 50 céntimos"),
    ("es", "1.01", "EUR", "un euro con un céntimo"),     # mod_say_es would say "uno"
    ("es", "1.00", "GBP", "una libra"),
    ("ru", "12.50", "EUR", "12 евро 50 центов"),
    ("ru", "1.01", "RUB", "1 рубль одна копейка"),          # the voice would say "один"
    ("ru", "2.02", "RUB", "2 рубля 2 копейки"),
    ("ru", "22.22", "RUB", "22 рубля 22 копейки"),
    ("ru", "25.11", "RUB", "25 рублей 11 копеек"),
    ("ru", "21.00", "USD", "21 доллар"),
])
def test_each_currency_has_its_own_words_in_each_language(language, amount, currency, words):
    assert spoken(language, amount, currency) == words


def test_no_language_names_a_euro_amount_in_another_currency():
    """The defect this replaces: the say modules' CURRENCY said dollars (en, es) or roubles
    (ru) for every amount."""
    for language, wrong in (("en", "dollar"), ("es", "dólar"), ("ru", "рубл")):
        assert wrong not in spoken(language, "12.50", "EUR")


def test_with_every_word_recorded_the_counts_go_through_the_say_module():
    renderer = PromptRenderer(Catalog.load("ru"), None, "/rec", "always", "flite", "kal")
    prompts = renderer.amount("21.02", "RUB")
    assert [(p.kind, p.value, p.options.get("gender")) for p in prompts] == [
        ("say", "21", "MASCULINE"), ("file", "/rec/ru/money/RUB.major.one.wav", None),
        ("say", "2", "FEMININE"), ("file", "/rec/ru/money/RUB.minor.few.wav", None)]
    assert all(p.options.get("language") == "ru" for p in prompts if p.kind == "say")


def test_a_one_phrase_is_its_own_recording():
    renderer = PromptRenderer(Catalog.load("es"), None, "/rec", "always", "flite", "kal")
    assert [(p.kind, p.value) for p in renderer.amount("1.50", "EUR")] == [
        ("file", "/rec/es/money/EUR.major.one_phrase.wav"), ("file", "/rec/es/money/and.wav"),
        ("say", "50"), ("file", "/rec/es/money/EUR.minor.other.wav")]


class SomeRecorded:
    """A switch that has only the major unit's recordings."""
    def exists(self, channel, path):
        return ".major." in path


def test_one_missing_recording_makes_the_whole_amount_one_phrase():
    renderer = PromptRenderer(Catalog.load("en"), None, "/rec", "auto", "flite", "kal",
                              files=SomeRecorded())
    assert [(p.kind, p.value) for p in renderer.amount("3.20", "USD")] == [
        ("speak", "3 dollars and 20 cents")]


def test_a_currency_the_catalog_does_not_name_is_read_out_whole_with_a_warning(caplog):
    caplog.set_level(logging.WARNING)
    assert spoken("en", "3.00", "XOF") == "3.00 XOF"
    assert "no words for currency XOF" in caplog.text


@pytest.mark.parametrize("money,message", [
    ({"plural": "dual"}, "money.plural must be one of"),
    ({"currencies": {"EUR": {"major": ["euro"], "minor": ["cent", "cents"]}}},
     "money.currencies.EUR.major needs 2 forms"),
    ({"plural": "one_few_many", "currencies": {"RUB": {"major": ["a", "b"], "minor": ["c", "d", "e"]}}},
     "money.currencies.RUB.major needs 3 forms (one, few, many)"),
    ({"currencies": {"EUR": {"major": ["euro", "euros"]}}}, "money.currencies.EUR takes major: and minor:"),
    ({"currencies": {"ZZZ": {"major": ["z", "zs"]}}}, "'ZZZ' is not an active ISO 4217 code"),
    ({"currencies": {"EUR": {"major": {"forms": ["e", "es"], "gender": "ROBOT"}, "minor": ["c", "cs"]}}},
     "gender must be one of"),
    ({"currencies": {"EUR": {"major": ["euro", ""], "minor": ["cent", "cents"]}}}, "needs 2 forms"),
    ({"tens": 1}, "money: takes plural:, and: and currencies:"),
])
def test_a_wrong_money_section_is_refused_when_loaded(money, message):
    with pytest.raises(MoneyWordsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MoneyWords.parse(money)


def test_a_catalog_with_a_wrong_money_section_names_its_file(tmp_path):
    path = os.path.join(str(tmp_path), "xx.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("language: xx\nprompts: {}\nmoney: {plural: dual}\n")
    with pytest.raises(CatalogError, match="xx.yaml: money.plural"):
        Catalog.load("xx", str(tmp_path))


def test_a_yen_amount_needs_no_minor_unit_and_a_euro_amount_does():
    MoneyWords.parse({"currencies": {"JPY": {"major": ["yen", "yen"]}}})
    with pytest.raises(MoneyWordsError):
        MoneyWords.parse({"currencies": {"EUR": {"major": ["euro", "euros"]}}})
