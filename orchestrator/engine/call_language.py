"""The caller's language on one call: chosen when the flow starts, changed by a step, read
every time a prompt is rendered.

A flow's ``language:`` is a code (``es``) or a ``${...}`` expression (``${channel.pay_language}``,
set by the dialplan or the agent panel). When the flow starts, the runner resolves it into the
flow variable ``language``; from then on that variable is the call's language, so a step that
sets it (``set: {language: ru}``, ``choose_language``) switches
prompts, ``say``, the TTS voice and the catalog for the rest of the call. It is read, and
checked, each time a prompt is rendered: a value with no catalog never reaches card entry as
a CatalogError; the call goes on in the flow's default language, with a WARNING that names it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional, Tuple

# the module, not its names: the catalog imports engine.channel, whose package imports the
# runner, which imports this (its names are looked up when a call runs)
from orchestrator import catalog as catalogs

from .expressions import ExpressionError
from .schema import LANGUAGE_CODE_PATTERN

if TYPE_CHECKING:  # pragma: no cover
    from .context import FlowContext

LANGUAGE_VARIABLE = "language"
LANGUAGE_CODE = re.compile(LANGUAGE_CODE_PATTERN)   # a catalog's name, as the flow schema has it


def catalog_dir(ctx: "FlowContext") -> Optional[str]:
    """Where the call's tenant keeps its catalogs (None: the shipped ones)."""
    settings = ctx.services.prompts if ctx.services else None
    return settings.catalog_dir if settings else None


def has_catalog(ctx: "FlowContext", code: str) -> bool:
    """Whether ``code`` names a catalog the call's tenant can load; asked once per call. Only
    a language code is looked for: the value may come from a channel variable, and is never
    a path (``../``) to some other file."""
    known = ctx.language_checks
    if not LANGUAGE_CODE.match(code):
        return False
    if code not in known:
        try:
            _load(ctx, code)
            known[code] = True
        except catalogs.CatalogError:
            known[code] = False
    return known[code]


def start_language(ctx: "FlowContext") -> str:
    """The flow's ``language:`` resolved for this call. A ``${...}`` naming a variable that is
    not set means nobody chose: the default, quietly. A value without a catalog: the default,
    with a WARNING."""
    flow = ctx.flow
    try:
        chosen = ctx.render(flow.language_source).strip()
    except ExpressionError:
        ctx.log.info("flow %s: %s is not set; speaking %s", flow.name, flow.language_source,
                     flow.language)
        return flow.language
    return _checked(ctx, chosen, "the flow's language")


def current_language(ctx: "FlowContext", override: Any = None) -> str:
    """The language to render a prompt in now: a step's own ``language:`` when it has one,
    else the call's ``language`` variable; either, when it names no catalog, gives way to
    the flow's default (WARNING)."""
    if override is not None:
        try:
            chosen = ctx.render(override).strip()
        except ExpressionError as exc:
            ctx.log.warning("a step's language could not be resolved (%s); speaking %s",
                            exc, ctx.flow.language)
            return ctx.flow.language
        return _checked(ctx, chosen, "a step's language")
    chosen = str(ctx.variables.get(LANGUAGE_VARIABLE) or ctx.flow.language).strip()
    return _checked(ctx, chosen, "the variable 'language'")


def _checked(ctx: "FlowContext", chosen: str, what: str) -> str:
    if chosen and has_catalog(ctx, chosen):
        return chosen
    default = ctx.flow.language
    if (chosen, what) not in ctx.language_warned:   # once per value a call, not per prompt
        ctx.language_warned.add((chosen, what))
        ctx.log.warning("%s is %s, which has no prompt catalog; speaking %s", what,
                        _shown(chosen), default)
    return default


def _shown(value: str) -> str:
    """A language value for a log line: a code as it is; anything else only by its length
    (it came from a channel variable or a step, and could hold what a caller keyed)."""
    if LANGUAGE_CODE.match(value) and not any(c.isdigit() for c in value):
        return repr(value)
    return "a value of %d characters that is not a language code" % len(value)


def call_catalog(ctx: "FlowContext", override: Any = None) -> "catalogs.Catalog":
    """The catalog of the language to speak now (see ``current_language``)."""
    language = current_language(ctx, override)
    try:
        return _load(ctx, language)
    except catalogs.CatalogError:
        if language == ctx.flow.language:
            raise
        return _load(ctx, ctx.flow.language)


def _load(ctx: "FlowContext", language: str) -> "catalogs.Catalog":
    """The call's catalog for ``language``: the one the call started with (``CallServices``
    keeps the catalogs loaded with its flows, so a reload mid-call changes none of its
    prompts), else read from the tenant's folder."""
    if ctx.services is not None:
        return ctx.services.catalog(language)
    return catalogs.Catalog.load(language, catalog_dir(ctx))


def voice(ctx: "FlowContext", catalog: Optional["catalogs.Catalog"] = None) -> Tuple[str, str]:
    """(engine, voice) for text to speech: the catalog's own, else the service config's."""
    if catalog is None:
        try:
            catalog = call_catalog(ctx)
        except catalogs.CatalogError:
            catalog = None
    if catalog is not None and catalog.tts_engine:
        return catalog.tts_engine, catalog.tts_voice or ctx.settings.tts_voice
    return ctx.settings.tts_engine, ctx.settings.tts_voice


def decline_words(ctx: "FlowContext", code: str, fallback: str = "") -> str:
    """A decline reason in the call's language: the catalog's ``reasons:`` words for the
    normalised code, the same words ``announce payment_declined`` speaks and
    ``pay_decline_reason`` carries; ``fallback`` when no catalog loads."""
    try:
        return call_catalog(ctx).reason(code) or fallback
    except catalogs.CatalogError:
        return fallback


def shipped_languages() -> Tuple[str, ...]:
    """The languages of the catalogs shipped in orchestrator/catalog, sorted."""
    import os
    return tuple(sorted(name[:-len(".yaml")] for name in os.listdir(catalogs.HERE)
                        if name.endswith(".yaml")))
