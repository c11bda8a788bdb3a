"""``choose_language``: a language menu. Each language offers itself in its own words and
voice (its catalog's ``language.offer``: "Para español, pulse 2"), the caller keys one digit,
and the call's ``language`` variable is set: prompts, ``say``, the TTS voice and the catalog
switch for the rest of the call (engine/call_language.py).

A caller who keys nothing, or a key no language has, hears the menu again up to
``max_attempts`` times; then the call goes on in the language it had, so a menu can never end
a payment. Menu keys travel as DTMF events, like ``collect``'s: no card data is asked here.
"""
from typing import TYPE_CHECKING, List

from ...catalog import CatalogError
from ..call_language import LANGUAGE_VARIABLE, has_catalog
from ..schema import LANGUAGE_CODE_PATTERN
from ..step_api import StepError, StepKind, register
from ..prompts import catalog_renderer

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Prompt
    from ..context import FlowContext


@register
class ChooseLanguage(StepKind):
    name = "choose_language"
    title = "Choose the caller's language"
    description = ("A language menu: each language offers itself in its own voice (catalog prompt "
                   "language.offer), key 1 for the first, 2 for the second...; the choice sets the "
                   "variable `language` for the rest of the call. No choice keeps the language the call has.")
    schema = {
        "type": "object",
        "properties": {
            "languages": {"type": "array", "minItems": 2, "maxItems": 9, "uniqueItems": True,
                          "items": {"type": "string", "pattern": LANGUAGE_CODE_PATTERN,
                                    "patternErrorMessage": "must be a language code such as en, es or ru"},
                          "description": "The languages offered, in the order of their keys (1, 2, ...); "
                                         "each needs a catalog."},
            "first_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                                    "description": "Seconds to wait for the key after the menu."},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2,
                             "description": "How often the menu is played before the call goes on unchanged."},
        },
        "required": ["languages"],
        "additionalProperties": False,
    }
    shorthand = "languages"
    example = ["en", "es", "ru"]

    @classmethod
    def normalize(cls, value):
        """``choose_language: [en, es, ru]`` is short for ``{languages: [en, es, ru]}``."""
        return super().normalize({"languages": value} if isinstance(value, list) else value)

    @classmethod
    def defined_variables(cls, config):
        return [LANGUAGE_VARIABLE]

    @classmethod
    def languages(cls, config):
        """The languages offered, with where each is written: each needs a catalog of the
        tenant's (checked when the service config loads, orchestrator/tenancy/checks.py)."""
        return [(("languages", index), code) for index, code in enumerate(config["languages"])]

    def run(self, ctx: "FlowContext") -> None:
        languages = list(self.config["languages"])
        offered = [code for code in languages if has_catalog(ctx, code)]
        for code in languages:
            if code not in offered:
                ctx.log.warning("choose_language: %s has no prompt catalog; not offered", code)
        if len(offered) < 2:
            return None   # nothing to choose between: the call keeps its language
        menu = self._menu(ctx, languages, offered)
        keys = {str(languages.index(code) + 1): code for code in offered}
        for _ in range(self.config["max_attempts"]):
            result = ctx.channel.collect_digits(
                menu, min_digits=1, max_digits=1, terminators="", cancel_key="",
                first_digit_timeout=self.config["first_digit_timeout"], inter_digit_timeout=1.0)
            chosen = keys.get(result.digits or "") if result.status == "ok" else None
            if chosen:
                ctx.variables[LANGUAGE_VARIABLE] = chosen
                ctx.log.info("choose_language: the caller chose %s", chosen)
                return None
        ctx.log.info("choose_language: no choice; the call goes on in %s", ctx.language)
        return None

    @staticmethod
    def _menu(ctx: "FlowContext", languages: List[str], offered: List[str]) -> List["Prompt"]:
        """Each language's offer in its own catalog and voice; its key is its place in the list."""
        menu: List["Prompt"] = []
        try:
            for code in offered:
                renderer = catalog_renderer(ctx, code)
                menu += renderer.prompts("language.offer", press=str(languages.index(code) + 1))
        except CatalogError as exc:
            raise StepError("choose_language: %s" % exc)
        return menu
