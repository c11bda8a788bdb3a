"""The shipped catalogs say the same things: every prompt in each language, with the same
placeholders, so a step that fills a prompt in English fills it in Spanish too."""
import string

from orchestrator.catalog import Catalog

LANGUAGES = ("en", "es")


def placeholders(catalog, key):
    return sorted(name for segment in catalog.segments(key)
                  for text in (segment.value, segment.text)
                  for _, name, _, _ in string.Formatter().parse(text) if name)


def test_every_language_has_every_prompt_with_the_same_placeholders():
    catalogs = {language: Catalog.load(language) for language in LANGUAGES}
    keys = {language: set(catalog.prompts) for language, catalog in catalogs.items()}
    assert keys["en"] == keys["es"]
    for key in sorted(keys["en"]):
        assert placeholders(catalogs["en"], key) == placeholders(catalogs["es"], key), key
    assert {"list.item", "list.item.due", "list.item.press", "list.all", "list.empty",
            "list.chosen"} <= keys["en"]
