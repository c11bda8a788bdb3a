"""Prompt catalogs: what the payment steps say, per language, as recordings with a TTS fallback.

A catalog (``en.yaml``, ``es.yaml`` beside this file, or a directory of one's own) maps prompt
keys to segments. A recorded segment names a file under the configured ``audio_dir`` on the
switch and carries its words, so a site without recordings still speaks, through TTS. Whether
the recording is there is asked of the switch once per node and path and kept, because the
files live on each FreeSWITCH box, not on ours.
"""
import os
import string
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

import yaml

from orchestrator.engine.channel import CallError, Channel, Prompt

from .money_words import MoneyWords, MoneyWordsError

HERE = os.path.dirname(os.path.abspath(__file__))
SEGMENT_FORMS = ("file", "text", "say", "spell")
SAY_GENDERS = ("MASCULINE", "FEMININE", "NEUTER")   # the say application's [gender] argument
AUDIO_MODES = ("auto", "always", "never")
EXISTS_TTL = 300.0
MAX_KNOWN_FILES = 10000   # (node, path) answers kept; a few catalogs' files on a few nodes
MAX_LOADED = 256          # parsed catalogs kept (path -> file version, catalog): tenants x languages
_LOADED: dict = {}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml's, where PyYAML has it


class CatalogError(Exception):
    """A catalog that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Segment:
    form: str
    value: str
    text: str = ""
    options: dict = field(default_factory=dict)


@dataclass
class Catalog:
    language: str
    say_language: str
    prompts: dict
    reasons: dict
    source: str = ""
    messages: dict = field(default_factory=dict)   # SMS templates (orchestrator/sms/text.py)
    tts_engine: str = ""                           # "": the service config's tts.engine
    tts_voice: str = ""
    say_gender: dict = field(default_factory=dict)  # say kind -> MASCULINE | FEMININE | NEUTER
    money: MoneyWords = field(default_factory=MoneyWords)   # currencies' names (money_words.py)
    name: str = ""                                 # the language's own name, for the agent panel

    @classmethod
    def load(cls, language, directory=None):
        """The catalog of ``language`` in ``directory`` (default: the shipped ones), parsed
        once per version of its file: every prompt of a call renders through it, and parsing
        YAML on the call's greenlet each time would hold up every other call."""
        path = os.path.join(directory or HERE, "%s.yaml" % language)
        try:
            info = os.stat(path)
        except OSError:
            raise CatalogError("no prompt catalog for language %r (%s)" % (language, path))
        version = (info.st_mtime_ns, info.st_size, info.st_ino)
        known = _LOADED.get(path)
        if known is not None and known[0] == version:
            return known[1]
        catalog = cls._parse(language, path)
        if len(_LOADED) >= MAX_LOADED:
            _LOADED.clear()
        _LOADED[path] = (version, catalog)
        return catalog

    @classmethod
    def _parse(cls, language, path):
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=_YAML_LOADER) or {}
        except OSError:
            raise CatalogError("no prompt catalog for language %r (%s)" % (language, path))
        except yaml.YAMLError as exc:
            raise CatalogError("%s: not valid YAML: %s" % (path, exc))
        if not isinstance(data, dict):
            raise CatalogError("%s: a catalog is a map with prompts:, reasons: and messages:" % path)
        prompts = {}
        for key, segments in (data.get("prompts") or {}).items():
            prompts[key] = [cls._segment(path, key, raw) for raw in segments]
        tts = data.get("tts") or {}
        if not isinstance(tts, dict) or set(tts) - {"engine", "voice"}:
            raise CatalogError("%s: tts: takes engine: and voice: only" % path)
        say_gender = {str(k): cls._gender(path, "say_gender." + str(k), v)
                      for k, v in (data.get("say_gender") or {}).items()}
        try:
            money = MoneyWords.parse(data.get("money"))
        except MoneyWordsError as exc:
            raise CatalogError("%s: %s" % (path, exc))
        return cls(language=data.get("language", language),
                   say_language=data.get("say_language", language),
                   prompts=prompts, reasons=dict(data.get("reasons") or {}), source=path,
                   messages={str(k): str(v) for k, v in (data.get("messages") or {}).items()},
                   tts_engine=str(tts.get("engine") or ""), tts_voice=str(tts.get("voice") or ""),
                   say_gender=say_gender, money=money,
                   name=str(data.get("name") or data.get("language", language)))

    @staticmethod
    def _gender(path, where, value):
        gender = str(value).upper()
        if gender not in SAY_GENDERS:
            raise CatalogError("%s: %s must be one of %s" % (path, where, ", ".join(SAY_GENDERS)))
        return gender

    def gender(self, kind, segment=None):
        """The say gender for a value of ``kind``: the segment's own ``gender:``, else the
        catalog's ``say_gender`` for the kind, else FEMININE (what FreeSWITCH's examples send)."""
        if segment is not None and segment.options.get("gender"):
            return segment.options["gender"]
        return self.say_gender.get(kind, "FEMININE")

    @staticmethod
    def _segment(path, key, raw):
        forms = [f for f in SEGMENT_FORMS if f in (raw or {})]
        if forms[:1] == ["file"] and "text" in forms:
            forms.remove("text")  # a recording carries its words for the TTS fallback
        if len(forms) != 1:
            raise CatalogError("%s: prompt %s: each segment needs one of %s"
                               % (path, key, ", ".join(SEGMENT_FORMS)))
        form = forms[0]
        options = {k: v for k, v in raw.items() if k not in (form, "text")}
        if "gender" in options:   # checked here, not when a caller is waiting for the prompt
            options["gender"] = Catalog._gender(path, "prompt %s: gender" % key, options["gender"])
        return Segment(form, str(raw[form]), str(raw.get("text", "")), options)

    def segments(self, key):
        try:
            return self.prompts[key]
        except KeyError:
            raise CatalogError("%s: no prompt %r" % (self.source, key))

    def message(self, key):
        """An SMS template (``messages:``): fixed words and typed placeholders only."""
        try:
            return self.messages[key]
        except KeyError:
            raise CatalogError("%s: no message %r" % (self.source, key))

    def reason(self, code):
        """A decline reason in the caller's language: the catalog's words for the normalised
        code, else the generic ones. Never a gateway's own text: it could hold anything."""
        return self.reasons.get(code) or self.reasons.get("generic", "")


class SwitchFiles:
    """What each switch answered about its recordings, kept for ``EXISTS_TTL``: the files live
    on every FreeSWITCH host, and two nodes need not hold the same ones. The node is the
    switch's Core-UUID (what the call's socket says): a restarted switch, whose files may
    have changed, is asked again, and the answers of its earlier run are dropped once there
    are ``max_known`` answers (the only entries that would otherwise pile up)."""

    def __init__(self, ttl=EXISTS_TTL, clock=time.monotonic, max_known=MAX_KNOWN_FILES):
        self.ttl, self.clock, self.max_known = ttl, clock, max_known
        self._known = {}   # (node, path) -> (exists, checked at)

    def __len__(self):
        return len(self._known)

    def exists(self, channel: Channel, path):
        key = (channel.switch.node_key, path)
        known = self._known.get(key)
        if known and self.clock() - known[1] < self.ttl:
            return known[0]
        try:
            exists = channel.file_exists(path)
        except CallError:  # an older switch without file_exists: speak rather than play silence
            exists = False
        self._remember(key, exists)
        return exists

    def _remember(self, key, exists):
        now = self.clock()
        if key not in self._known and len(self._known) >= self.max_known:
            self._known = {k: v for k, v in self._known.items() if now - v[1] < self.ttl}
            if len(self._known) >= self.max_known:
                self._known.clear()   # all fresh: more nodes x files than the bound, start over
        self._known[key] = (exists, now)


SWITCH_FILES = SwitchFiles()

# Who wants to know which catalog keys a call's prompts were rendered from: ``orchestrator
# simulate`` names what the caller heard by key (``expect: {prompts: [...]}``), which the switch
# cannot tell from the file or the words. Each observer is called with the call's uuid, the
# keys and what they became (``Prompt`` values, or the entry prompt's text); none in service.
RENDER_OBSERVERS: List[Callable[[Optional[str], Tuple[str, ...], Any], None]] = []


def _rendered(channel, keys, values):
    for observer in list(RENDER_OBSERVERS):
        observer(getattr(channel, "uuid", None), tuple(keys), values)


class PromptRenderer:
    """Turns catalog prompts into what the switch plays, choosing recording or TTS per segment."""

    def __init__(self, catalog, channel: Channel, audio_dir, audio_mode, tts_engine, tts_voice,
                 files: SwitchFiles = SWITCH_FILES):
        """No defaults here but the file cache: they live once, in ``PromptSettings`` and
        ``EngineSettings``, and the steps pass them on."""
        if audio_mode not in AUDIO_MODES:
            raise CatalogError("prompts.audio must be one of %s" % ", ".join(AUDIO_MODES))
        self.catalog = catalog
        self.channel = channel
        self.audio_dir = audio_dir
        self.audio_mode = audio_mode if audio_dir else "never"
        # the catalog's own voice (a Russian catalog is not read by an English one), else the
        # service config's
        self.tts = ((catalog.tts_engine, catalog.tts_voice or tts_voice) if catalog.tts_engine
                    else (tts_engine, tts_voice))
        self.files = files

    # -- deciding recording or speech --------------------------------------------------------
    def _audio_path(self, segment):
        if segment.form != "file" or self.audio_mode == "never":
            return None
        path = os.path.join(self.audio_dir, self.catalog.language, segment.value)
        if self.audio_mode == "always" or self._switch_has(path):
            return path
        return None

    def _switch_has(self, path):
        return self.files.exists(self.channel, path)

    # -- rendering ---------------------------------------------------------------------------
    @staticmethod
    def _fill(template, params):
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        missing = [n for n in names if n not in params]
        if missing:
            raise CatalogError("prompt needs %s" % ", ".join(missing))
        return template.format(**params)

    def prompts(self, key, **params):
        """``Prompt`` values for a catalog key, to play or to barge in on."""
        result = []
        for segment in self.catalog.segments(key):
            result.extend(self._render(segment, params))
        result = [p for p in result if p.value.strip()]
        _rendered(self.channel, [key], result)
        return result

    def _render(self, segment, params):
        engine, voice = self.tts
        speak = {"engine": engine, "voice": voice}
        if segment.form in ("file", "text"):
            audio = self._audio_path(segment)
            if audio:
                return [Prompt("file", audio, {})]
            text = segment.text if segment.form == "file" else segment.value
            return [Prompt("speak", self._fill(text, params), speak)]
        value = self._fill(segment.value, params)
        if segment.form == "say" and segment.options.get("kind") == "currency":
            return self.amount(value, self._fill("{currency}", params))
        if segment.form == "say":
            kind = segment.options.get("kind", "number")
            return [Prompt("say", value, {"kind": kind, "language": self.catalog.say_language,
                                          "gender": self.catalog.gender(kind, segment)})]
        if value.isdigit():
            return [Prompt("say", value, {"kind": "digits", "language": self.catalog.say_language,
                                          "gender": self.catalog.gender("digits")})]
        return [Prompt("speak", " ".join(value), speak)]

    def amount(self, major_text, currency):
        """An amount in major units of ``currency`` in the caller's words (money_words.py).
        With every unit word recorded: each count through the say module between the
        recordings. Otherwise one phrase in the catalog's voice ("12 euros and 50 cents"),
        as for ``entry_prompt``: the caller never hears half of an amount in one voice and
        half in another."""
        try:
            pieces = self.catalog.money.pieces(major_text, currency)
        except MoneyWordsError as exc:
            raise CatalogError("%s: %s" % (self.catalog.source, exc))
        words = [p for p in pieces if p.form == "words"]
        recordings = {p: self._audio_path(Segment("file", p.value)) for p in words if p.value}
        if words and len(recordings) == len(words) and all(recordings.values()):
            return [Prompt("file", recordings[p], {}) if p.form == "words" else
                    Prompt("say", p.value, {"kind": "number", "language": self.catalog.say_language,
                                            "gender": p.gender or self.catalog.gender("number")})
                    for p in pieces]
        engine, voice = self.tts
        phrase = " ".join(p.value if p.form == "say" else p.text for p in pieces)
        return [Prompt("speak", phrase, {"engine": engine, "voice": voice})]

    def entry_prompt(self, keys, **params):
        """One ``play_and_get_digits`` prompt for several catalog keys (an error, then a question).

        Recordings only if every segment has one (``file_string://`` joins them); otherwise the
        whole text as one TTS prompt (``say:``), so the caller never hears half in one voice.
        """
        segments = [s for key in keys for s in self.catalog.segments(key)]
        paths = [self._audio_path(s) for s in segments]
        if paths and all(paths):
            prompt = paths[0] if len(paths) == 1 else "file_string://" + "!".join(paths)
        else:
            words = [self._fill(s.text if s.form == "file" else s.value, params) for s in segments]
            prompt = "say:" + " ".join(w for w in words if w)
        _rendered(self.channel, keys, prompt)
        return prompt
