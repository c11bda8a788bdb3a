"""What a caller hears: files, text to speech and ``say`` values, in one YAML shape.

``play``/``speak``/``say`` steps play one thing each; ``collect`` needs lists of them (the
menu, the invalid-entry message, the retry message) handed to ``Channel.collect_digits`` as
``Prompt`` values so the caller can barge in. This module owns that shared shape: its schema,
its semantic check, turning it into ``Prompt`` values, and playing them outside a collect.
"""
from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..catalog import CatalogError, PromptRenderer
from ..payments.iso4217 import CURRENCIES
from ..payments.money import format_major
from .call_language import call_catalog, current_language, voice as call_voice
from .channel import Prompt
from .step_api import RelPath, StepError

if TYPE_CHECKING:  # pragma: no cover
    from .context import FlowContext

SAY_KINDS = ["number", "currency", "digits", "date"]

_PROMPT_PROPERTIES = {
    "file": {"type": "string", "title": "Sound file",
             "description": "A path FreeSWITCH can play: relative to its sound prefix (ivr/ivr-welcome.wav), "
                           "absolute, or a tone_stream:// / silence_stream:// URL. ${...} allowed."},
    "speak": {"type": "string", "title": "Text to speech", "description": "Text spoken by the TTS engine."},
    "engine": {"type": "string", "description": "TTS engine for this speak prompt (default: service config)."},
    "voice": {"type": "string", "description": "TTS voice for this speak prompt (default: the call's language's, else the service config's)."},
    "say": {"type": ["string", "number"], "title": "Say a value",
            "description": "A number, amount or digit string read out by FreeSWITCH's say module."},
    "kind": {"type": "string", "enum": SAY_KINDS,
             "description": "How to say the value (default number); date takes YYYY-MM-DD."},
    "language": {"type": "string", "description": "Language of the say module (default: the call's)."},
    "currency": {"type": "string", "pattern": "^([A-Z]{3}|\\$\\{.+\\})$",
                 "patternErrorMessage": "must be an ISO 4217 code such as EUR (or a ${...} variable)",
                 "description": "ISO 4217 code; the value is then in minor units (cents)."},
}

_PROMPT_ITEM = {
    "type": ["string", "object"],
    "properties": _PROMPT_PROPERTIES,
    "additionalProperties": False,
    "minProperties": 1,
}


def prompt_schema(description: str) -> dict:
    """Schema of a prompt value: a file path, {file|speak|say: ...}, or a list of those."""
    return {"description": description + " A file path, {speak: text}, {say: value, kind: ...}, or a list of them.",
            **_PROMPT_ITEM, "type": ["string", "object", "array"], "items": dict(_PROMPT_ITEM)}


_OPTIONS_OF = {"file": set(), "speak": {"engine", "voice"}, "say": {"kind", "language", "currency"}}


def check_prompts(value: Any, path: RelPath) -> List[Tuple[RelPath, str]]:
    """Each prompt map has exactly one of file/speak/say and only that form's options."""
    if value is None:
        return []
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    problems = []
    for index, item in items:
        item_path = path if index is None else path + (index,)
        if not isinstance(item, dict):
            continue
        forms = [form for form in _OPTIONS_OF if form in item]
        if len(forms) != 1:
            problems.append((item_path, "a prompt needs exactly one of file, speak, say"
                             + (f"; found {', '.join(forms)}" if forms else "")))
            continue
        for key in item:
            if key != forms[0] and key not in _OPTIONS_OF[forms[0]]:
                problems.append((item_path + (key,), f"'{key}' does not apply to a {forms[0]} prompt"))
    return problems


# ---- currency amounts ---------------------------------------------------------------------

def major_units(minor: str, currency: str) -> str:
    """'1234' EUR -> '12.34': amounts travel in minor units, FreeSWITCH says major units."""
    text = minor.strip()
    if not (text.isdigit() and text.isascii()):
        raise StepError(f"amount for currency {currency} is not a whole number of minor units")
    if currency not in CURRENCIES:
        raise StepError(f"currency {currency!r} is not an active ISO 4217 code")
    return format_major(int(text), currency)


def say_date(text: str) -> str:
    """'2026-12-15' -> the Unix time of that day's noon (UTC) that the say module reads: noon,
    so the switch's own time zone cannot move it to another day."""
    try:
        day = datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise StepError("a date to say must be written YYYY-MM-DD") from None
    noon = datetime.datetime(day.year, day.month, day.day, 12, tzinfo=datetime.timezone.utc)
    return str(int(noon.timestamp()))


def catalog_renderer(ctx: "FlowContext", language: Any = None) -> PromptRenderer:
    """The call's tenant's catalog in the call's language (or a step's ``language:``, when
    given), ready to render prompts in that language's voice; CatalogError when there is none
    (engine/call_language.py)."""
    services = ctx.services
    settings = services.prompts if services else None
    catalog = call_catalog(ctx, language)
    return PromptRenderer(catalog, ctx.channel, settings.audio_dir if settings else "",
                          settings.audio if settings else "never",
                          ctx.settings.tts_engine, ctx.settings.tts_voice)


def step_prompts(ctx: "FlowContext", step: str, key: str, language: Any = None,
                 **params: Any) -> List[Prompt]:
    """The prompts of catalog ``key`` in the call's language now (a menu may have chosen it),
    or the step's own ``language``; a catalog that cannot give them stops ``step`` with a
    StepError naming it."""
    try:
        return catalog_renderer(ctx, language).prompts(key, **params)
    except CatalogError as exc:
        raise StepError("%s: %s" % (step, exc))


def say_prompts(ctx: "FlowContext", value: Any, kind: str, language: Any = None,
                currency: Optional[str] = None) -> List[Prompt]:
    """What to play for a say value: in the call's language (or ``language``, a step's own),
    with that catalog's say module language and gender for the kind
    (``engine/call_language.py``). An amount (kind currency, in minor units of ``currency``)
    is its counts and the catalog's words for the currency (catalog/money_words.py): the say
    modules' own CURRENCY names one currency whatever the amount's."""
    text = ctx.render(value)
    if kind == "currency":
        code = ctx.render(currency or "${currency}")
        major = major_units(text, code)
        try:
            return catalog_renderer(ctx, language).amount(major, code)
        except CatalogError as exc:   # no catalog at all: the voice reads it out
            ctx.log.warning("an amount is read out by the voice: %s", exc)
            engine, voice = call_voice(ctx)
            return [Prompt("speak", "%s %s" % (major, code), {"engine": engine, "voice": voice})]
    if kind == "date":
        text = say_date(text)
    code = current_language(ctx, language)
    try:
        catalog = call_catalog(ctx, language)
    except CatalogError:   # no catalog at all: the code itself names the say module
        return [Prompt("say", text, {"kind": kind, "language": code, "gender": "FEMININE"})]
    return [Prompt("say", text, {"kind": kind, "language": catalog.say_language,
                                 "gender": catalog.gender(kind)})]


# ---- building and playing -------------------------------------------------------------------

def build_prompts(ctx: "FlowContext", value: Any) -> List[Prompt]:
    """Turn the YAML prompt value into ``Prompt`` values, interpolating ``${...}`` now."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    prompts = []
    for item in items:
        if not isinstance(item, dict):
            item = {"file": item}
        if "file" in item:
            prompts.append(Prompt("file", ctx.render(item["file"]), {}))
        elif "speak" in item:
            engine, voice = call_voice(ctx)   # the call's language's voice, unless named here
            prompts.append(Prompt("speak", ctx.render(item["speak"]), {
                "engine": ctx.render(item.get("engine", engine)),
                "voice": ctx.render(item.get("voice", voice))}))
        else:
            prompts.extend(say_prompts(ctx, item["say"], item.get("kind", "number"),
                                       item.get("language"), item.get("currency")))
    return prompts


def play_prompts(ctx: "FlowContext", prompts: List[Prompt]) -> None:
    """Play prompts one after another, outside a digit collection."""
    for prompt in prompts:
        if prompt.kind == "file":
            response = ctx.channel.playback(prompt.value)
        elif prompt.kind == "speak":
            response = ctx.channel.speak(prompt.value, engine=prompt.options.get("engine"),
                                         voice=prompt.options.get("voice"))
        else:
            response = ctx.channel.say(prompt.value, kind=prompt.options.get("kind", "number"),
                                       language=prompt.options.get("language", "en"),
                                       gender=prompt.options.get("gender", "FEMININE"))
        report_playback(ctx.log, prompt, response)


def report_playback(log: logging.Logger, prompt: Prompt, response: Any) -> None:
    """A missing prompt is a configuration mistake, not a reason to drop the caller: warn."""
    text = str(response or "").upper()
    if "NOT FOUND" in text or "ERROR" in text:
        shown = prompt.value if prompt.kind == "file" else prompt.kind
        log.warning("prompt %s did not play: %s", shown, response)
