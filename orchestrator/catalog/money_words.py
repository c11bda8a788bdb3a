"""Amounts in the caller's words: the number through the say module, the currency's name from
the catalog, in the plural form the number takes.

FreeSWITCH's ``say ... CURRENCY`` cannot do this: each say module has its own currency words
whatever the amount's currency (mod_say_en and mod_say_es say dollars, mod_say_ru roubles),
so 12.50 EUR would be read as twelve dollars fifty. A catalog's ``money:`` section names each
currency's major and minor units per plural form instead; an amount becomes segments the
renderer plays like any other: ``say`` NUMBER for each count, and each unit word as a
recording (``money/<CODE>.<major|minor>.<form>.wav`` under the catalog's audio folder) or,
without one, its text through the catalog's voice::

    money:
      plural: one_other            # en, es; one_few_many for ru, uk, be
      and: "and"                   # between major and minor units ("" for none)
      currencies:
        EUR: {major: [euro, euros], minor: [cent, cents]}
        RUB: {major: [рубль, рубля, рублей],
              minor: {forms: [копейка, копейки, копеек], gender: FEMININE}}
        # a count of exactly one said as a phrase of its own, where the say module cannot
        # agree ("un euro", not mod_say_es's "uno euro")
        GBP: {major: {forms: [libra, libras], one: una libra}, minor: [penique, peniques]}

A currency the catalog does not name is read out whole by the voice ("12.50 EUR"), with a
WARNING: never in some other currency's words.
"""
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from orchestrator.payments.iso4217 import CURRENCIES

log = logging.getLogger(__name__)

# the plural rules the catalogs may name: the names of their forms, and which form a whole
# count takes (CLDR's cardinal rules, for integers)
PLURAL_FORMS: Dict[str, Tuple[str, ...]] = {
    "one_other": ("one", "other"),
    "one_few_many": ("one", "few", "many"),
}
GENDERS = ("MASCULINE", "FEMININE", "NEUTER")
UNITS = ("major", "minor")


def plural_form(rule: str, count: int) -> str:
    """The form ``count`` takes under ``rule``: 1 euro, 2 euros; 1 рубль, 3 рубля, 5 рублей,
    11 рублей, 21 рубль."""
    if rule == "one_other":
        return "one" if count == 1 else "other"
    if rule == "one_few_many":
        tens, units = count % 100, count % 10
        if units == 1 and tens != 11:
            return "one"
        if 2 <= units <= 4 and not 12 <= tens <= 14:
            return "few"
        return "many"
    raise ValueError("unknown plural rule %r" % rule)


class MoneyWordsError(ValueError):
    """A ``money:`` section that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Unit:
    """One unit of a currency (its euros, or its cents) in one language."""
    forms: Dict[str, str]          # plural form -> words
    gender: str = ""               # the say gender of its count ("": the catalog's number gender)
    one: str = ""                  # a count of one said as this phrase instead


@dataclass(frozen=True)
class Piece:
    """One segment of a spoken amount, before the renderer turns it into a ``Prompt``:
    ``say`` a count (its text is the number) or ``words`` (a recording's name and its text)."""
    form: str                      # "say" | "words"
    value: str
    text: str = ""
    gender: str = ""


@dataclass(frozen=True)
class MoneyWords:
    plural: str = "one_other"
    joiner: str = ""
    currencies: Dict[str, Dict[str, Unit]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw) -> "MoneyWords":
        """From a catalog's ``money:`` map; MoneyWordsError names what is wrong."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict) or set(raw) - {"plural", "and", "currencies"}:
            raise MoneyWordsError("money: takes plural:, and: and currencies:")
        plural = str(raw.get("plural", "one_other"))
        if plural not in PLURAL_FORMS:
            raise MoneyWordsError("money.plural must be one of %s" % ", ".join(PLURAL_FORMS))
        currencies = {}
        for code, units in (raw.get("currencies") or {}).items():
            code = str(code)
            if code not in CURRENCIES:
                raise MoneyWordsError("money.currencies: %r is not an active ISO 4217 code" % code)
            needed = {"major", "minor"} if CURRENCIES[code][1] else {"major"}
            if not isinstance(units, dict) or set(units) - set(UNITS) or needed - set(units):
                raise MoneyWordsError("money.currencies.%s takes %s" % (
                    code, " and ".join(n + ":" for n in UNITS if n in needed)))
            currencies[code] = {name: cls._unit(plural, "money.currencies.%s.%s" % (code, name), spec)
                                for name, spec in units.items()}
        return cls(plural, str(raw.get("and") or ""), currencies)

    @staticmethod
    def _unit(plural: str, where: str, spec) -> Unit:
        if isinstance(spec, list):
            spec = {"forms": spec}
        if not isinstance(spec, dict) or set(spec) - {"forms", "gender", "one"}:
            raise MoneyWordsError("%s is a list of forms, or forms:, gender: and one:" % where)
        names = PLURAL_FORMS[plural]
        forms = spec.get("forms")
        if not isinstance(forms, list) or len(forms) != len(names) or not all(
                isinstance(f, str) and f.strip() for f in forms):
            raise MoneyWordsError("%s needs %d forms (%s) under plural %s"
                                  % (where, len(names), ", ".join(names), plural))
        gender = str(spec.get("gender", "")).upper()
        if gender and gender not in GENDERS:
            raise MoneyWordsError("%s: gender must be one of %s" % (where, ", ".join(GENDERS)))
        return Unit(dict(zip(names, forms)), gender, str(spec.get("one") or ""))

    def knows(self, currency: str) -> bool:
        return currency in self.currencies

    def pieces(self, major_text: str, currency: str) -> List[Piece]:
        """What to play for an amount in major units ("12.50", "1250" for JPY, "1.250" for
        KWD) of ``currency``: counts and unit words, the minor part left out when it is zero."""
        whole, _, fraction = major_text.strip().partition(".")
        if not whole.isdigit() or (fraction and not fraction.isdigit()):
            raise MoneyWordsError("an amount to say must be digits with one optional point")
        units = self.currencies.get(currency)
        if units is None:
            log.warning("the catalog has no words for currency %s; the amount is read out by "
                        "the voice", currency)
            return [Piece("words", "", "%s %s" % (major_text.strip(), currency))]
        major, minor = int(whole), int(fraction or "0")
        pieces: List[Piece] = []
        if major or not minor:
            pieces += self._count(currency, "major", units["major"], major)
        if minor:
            if pieces and self.joiner:
                pieces.append(Piece("words", "money/and.wav", self.joiner))
            pieces += self._count(currency, "minor", units["minor"], minor)
        return pieces

    def _count(self, currency: str, name: str, unit: Unit, count) -> List[Piece]:
        if count == 1 and unit.one:
            return [Piece("words", "money/%s.%s.one_phrase.wav" % (currency, name), unit.one)]
        form = plural_form(self.plural, count)
        return [Piece("say", str(count), gender=unit.gender),
                Piece("words", "money/%s.%s.%s.wav" % (currency, name, form), unit.forms[form])]
