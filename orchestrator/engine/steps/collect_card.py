"""``collect_card``: the caller keys card number, expiry, security code (and postal code).

Digits never travel as DTMF events: the step turns ``sensitive_dtmf`` on, reads each field
with ``Channel.collect_secret`` straight into the one secret type (``CardData``), and turns it
off again. A running recording is paused for the whole entry, on every path out. The flow sees
only ``card.brand``, ``card.bin`` and ``card.last4``.

Prompts: a field's question comes from the language catalog (``card.number``, ...); after a
failed attempt the error is said first (``error.<error type>``). A flow can override any of
them with ``prompts:`` entries chosen by field, attempt and error type, like Twilio's
``<Prompt for= attempt= errorType=>``; the most specific entry wins.

Stay-on-line (``pay_mode=stay``, docs/stay-on-line.md): the agent's leg eavesdrops on this call,
so around each field the caller's read audio is muted (``uuid_audio <uuid> start read mute 1``,
then ``uuid_audio <uuid> stop`` on every path): the caller's in-band key tones reach neither
the agent nor a recording. Before each field the agent's leg is looked for (``uuid_exists``):
an agent who hung up ends the entry as cancelled, so the flow routes the caller without them;
so does a field that failed (timed out, short) after the agent hung up during it, rather than
asking the caller again for a payment nobody is on (measured on 1.10.12: two more attempts,
about 35 s, before the caller heard goodbye).
"""
from contextlib import contextmanager

from ...catalog import Catalog, PromptRenderer
from ...esl.errors import CommandFailed
from ...payments.card import CardData, CardError
from ..ids import step_reference
from ..step_api import Goto, StepError, StepKind, register

FIELDS = ("number", "expiry", "security_code", "postal_code")
BRANDS = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "maestro")
ERROR_TYPES = ("input-timeout", "invalid-card-number", "invalid-card-type", "invalid-date",
               "invalid-security-code", "invalid-postal-code", "confirmation-mismatch")
LENGTHS = {"number": (12, 19), "expiry": (4, 4), "security_code": (3, 4), "postal_code": (3, 10)}
SHORT_ENTRY_ERROR = {"number": "invalid-card-number", "expiry": "invalid-date",
                     "security_code": "invalid-security-code", "postal_code": "invalid-postal-code"}
OUTCOMES = ("cancelled", "too-many-failed-attempts")
STAY_MUTE = "uuid_audio %s start read mute 1"     # the level is required: without it, -USAGE
STAY_UNMUTE = "uuid_audio %s stop"


def _prompt_override_schema():
    return {
        "type": "object",
        "properties": {
            "for": {"enum": list(FIELDS) + ["number-confirmation"],
                    "description": "The field this prompt asks for."},
            "attempt": {"type": "integer", "minimum": 1, "description": "Only on this attempt."},
            "error_type": {"enum": list(ERROR_TYPES), "description": "Only after this error."},
            "file": {"type": "string", "description": "A recording on the switch."},
            "text": {"type": "string", "description": "Text spoken by TTS."},
        },
        "required": ["for"],
        "additionalProperties": False,
    }


@register
class CollectCard(StepKind):
    name = "collect_card"
    title = "Collect card details"
    description = ("Reads card number, expiry, security code (and postal code) without a digit "
                   "ever reaching a DTMF event, a log or a recording. Sets card.brand, card.bin, card.last4.")
    schema = {
        "type": "object",
        "properties": {
            "fields": {"type": "array", "items": {"enum": list(FIELDS)}, "minItems": 1,
                       "uniqueItems": True, "default": ["number", "expiry", "security_code"],
                       "description": "What to ask for, in order. number comes before security_code."},
            "valid_brands": {"type": "array", "items": {"enum": list(BRANDS)}, "minItems": 1,
                             "uniqueItems": True, "description": "Accepted brands (default: all)."},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3,
                             "description": "Attempts per field."},
            "confirm_number": {"type": "boolean", "default": False,
                               "description": "Ask for the number twice and compare."},
            "first_digit_timeout": {"type": "number", "minimum": 1, "default": 10},
            "inter_digit_timeout": {"type": "number", "minimum": 1, "default": 5},
            "terminator": {"enum": ["#"], "default": "#", "description": "Key that finishes a field."},
            "cancel_key": {"enum": ["*", ""], "default": "*",
                           "description": "Key that cancels the payment (on.cancelled)."},
            "recordings": {"type": "array", "items": {"type": "string"},
                           "default": ["${channel.pay_recording_path}"],
                           "description": "Recordings (paths given to uuid_record) to pause during entry; "
                                          "entries whose variable is not set are skipped."},
            "per_field": {
                "type": "object", "default": {}, "additionalProperties": False,
                "description": "Overrides of max_attempts and the timeouts for one field.",
                "properties": {f: {"type": "object", "additionalProperties": False, "properties": {
                    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
                    "first_digit_timeout": {"type": "number", "minimum": 1},
                    "inter_digit_timeout": {"type": "number", "minimum": 1}}} for f in FIELDS}},
            "prompts": {"type": "array", "items": _prompt_override_schema(), "default": []},
            "on": {"type": "object", "additionalProperties": False, "default": {},
                   "properties": {o: step_reference("Where to continue when entry ends " + o)
                                  for o in OUTCOMES}},
        },
        "additionalProperties": False,
    }
    example = {"fields": ["number", "expiry", "security_code"], "valid_brands": ["visa", "mastercard"],
               "on": {"cancelled": "back_to_agent", "too-many-failed-attempts": "back_to_agent"}}

    @classmethod
    def check(cls, config):
        fields = config["fields"]
        if "security_code" in fields and ("number" not in fields
                                          or fields.index("number") > fields.index("security_code")):
            return [(("fields",), "security_code needs number before it (its length depends on the brand)")]
        return []

    @classmethod
    def jump_targets(cls, config):
        return [(("on", outcome), target) for outcome, target in config["on"].items()]

    @classmethod
    def defined_variables(cls, config):
        return ["card.brand", "card.bin", "card.last4", "payment.result"]

    # -- run time ----------------------------------------------------------------------------
    def run(self, ctx):
        services = ctx.services
        if services is None:
            raise StepError("collect_card needs the payment services (gateways, prompts)")
        config = self.config
        if ctx.card is not None:
            ctx.card.wipe()
        ctx.card = CardData(valid_brands=config.get("valid_brands"))
        renderer = _renderer(ctx, self.flow_language)
        recordings = [p for p in (ctx.render_optional(r) for r in config["recordings"]) if p]
        channel = ctx.channel
        channel.set_variable("tts_engine", ctx.settings.tts_engine)
        channel.set_variable("tts_voice", ctx.settings.tts_voice)
        _pause_recordings(ctx, recordings, "pause")
        channel.secure_entry(True)
        try:
            pending, done = list(config["fields"]), []
            while True:   # an agent's request is looked at between fields, and after the last
                request = _agent_request(ctx, ("cancel", "recapture"))
                if request == ("cancel",):
                    ctx.card.wipe()
                    _flush_keys(ctx)
                    return self._finish(ctx, "cancelled")
                if request and request[1] in done:
                    again = _recapture(request[1], done)
                    pending = again + [f for f in pending if f not in again]
                if not pending:
                    break
                if _stay_agent_gone(ctx):
                    ctx.card.wipe()
                    return self._finish(ctx, "cancelled")
                field = pending.pop(0)
                outcome = self._collect_field(ctx, renderer, field)
                if outcome is None and field == "number" and config["confirm_number"]:
                    outcome = self._collect_field(ctx, renderer, "number-confirmation")
                if outcome is not None:
                    ctx.card.wipe()
                    return self._finish(ctx, outcome)
                done.append(field)
        finally:
            if not channel.gone:
                channel.secure_entry(False)
                _pause_recordings(ctx, recordings, "resume")
        summary = ctx.card.summary
        for key in ("brand", "bin", "last4"):
            ctx.variables["card." + key] = getattr(summary, key)
        _notify(ctx, "card-complete", brand=summary.brand, masked=summary.masked)
        return None

    def _collect_field(self, ctx, renderer, field):
        """Ask for one field until it is valid; None on success, else the outcome name."""
        card = ctx.card
        store_as = "number" if field == "number-confirmation" else field
        config = dict(self.config, **self.config["per_field"].get(store_as, {}))
        low, high = LENGTHS[store_as]
        if field == "security_code":
            low = high = 4 if card.brand == "amex" else 3
        accept = {
            "number": card.set_number, "expiry": card.set_expiry,
            "security_code": card.set_security_code, "postal_code": card.set_postal_code,
            "number-confirmation": lambda digits: _confirm(card, digits),
        }[field]
        error = None
        for attempt in range(1, config["max_attempts"] + 1):
            prompt = self._prompt(ctx, renderer, field, attempt, error)
            _notify(ctx, "field-started", field=field, attempt=attempt)
            try:
                with _caller_muted_for_agent(ctx):
                    result = ctx.channel.collect_secret(
                        accept, prompt, low, high, config["first_digit_timeout"],
                        config["inter_digit_timeout"], config["terminator"], config["cancel_key"])
            except (CardError, ConfirmationMismatch) as exc:
                error = exc.error_type
            else:
                if result.status == "cancelled":
                    _notify(ctx, "field-cancelled", field=field)
                    return "cancelled"
                if result.status == "ok":
                    _observe(ctx, field, None)
                    _notify(ctx, "field-valid", field=field, **_shown(card, field))
                    return None
                if _agent_request(ctx, ("cancel",)):   # the agent cut the entry short
                    _notify(ctx, "field-cancelled", field=field)
                    return "cancelled"
                if _stay_agent_gone(ctx):   # no new attempt for an agent who hung up mid-field
                    _notify(ctx, "field-cancelled", field=field)
                    return "cancelled"
                error = "input-timeout" if result.status == "timeout" else SHORT_ENTRY_ERROR[store_as]
            _observe(ctx, field, error)
            _notify(ctx, "field-invalid", field=field, error_type=error, attempt=attempt)
            ctx.log.info("card entry: %s attempt %d of %d failed: %s", field, attempt,
                         config["max_attempts"], error)
        return "too-many-failed-attempts"

    def _prompt(self, ctx, renderer, field, attempt, error):
        override = _best_override(self.config["prompts"], field, attempt, error)
        if override is not None:
            if "file" in override:
                return ctx.render(override["file"])
            return "say:" + ctx.render(override.get("text", ""))
        keys = ["error.%s" % error] if error else []
        if field == "number-confirmation":
            keys.append("card.number.confirm")
        elif field == "security_code" and ctx.card.brand == "amex":
            keys.append("card.security_code.amex")
        else:
            keys.append("card.%s" % field)
        return renderer.entry_prompt(keys)

    def _finish(self, ctx, outcome):
        ctx.variables["payment.result"] = outcome
        _notify(ctx, "card-" + outcome)
        target = self.config["on"].get(outcome)
        if target is None:
            raise StepError("collect_card ended with %s and has no 'on: {%s: <step id>}' target"
                            % (outcome, outcome))
        return Goto(target)


class ConfirmationMismatch(Exception):
    """The number keyed to confirm is not the number keyed first."""

    error_type = "confirmation-mismatch"


def _confirm(card, digits):
    if not card.number_matches(digits):
        raise ConfirmationMismatch()


def _shown(card, field):
    if field in ("number", "number-confirmation"):
        return {"brand": card.brand, "masked": card.masked}
    return {"masked": card.masked_fields()[field]}


def _best_override(overrides, field, attempt, error):
    best, best_score = None, -1
    for entry in overrides:
        if entry["for"] != field:
            continue
        if "attempt" in entry and entry["attempt"] != attempt:
            continue
        if "error_type" in entry and entry["error_type"] != error:
            continue
        score = ("attempt" in entry) + 2 * ("error_type" in entry)
        if score > best_score:
            best, best_score = entry, score
    return best


def _renderer(ctx, language):
    settings = ctx.services.prompts
    return PromptRenderer(Catalog.load(language, settings.catalog_dir), ctx.channel,
                          settings.audio_dir, settings.audio, ctx.settings.tts_engine,
                          ctx.settings.tts_voice)


def _pause_recordings(ctx, recordings, action):
    """uuid_record pause/resume: the recording takes in no audio at all while digits are keyed.

    Not ``mask``: FreeSWITCH applies a mask when audio leaves the recorder's buffer, not when
    it is heard, and on 1.10.12 that buffer can hold seconds of the caller's audio (after a TTS
    prompt the mixed recorder waits on a partial frame while nothing is played, so keyed tones
    pile up unwritten). After ``unmask`` they were written in clear (tests/live/
    test_card_recording.py). A paused recorder does not buffer the caller's audio at all.
    """
    for path in recordings:
        try:
            reply = ctx.channel.api("uuid_record %s %s %s" % (ctx.channel.uuid, action, path))
        except Exception as exc:  # a failed resume must not hide the outcome of the payment
            ctx.log.warning("recording %s: %s failed: %s", path, action, type(exc).__name__)
            continue
        if not reply.startswith("+OK"):
            ctx.log.warning("recording %s: %s refused: %s", path, action, reply.strip())


def _stay_mode(ctx):
    return ctx.channel.variables.get("pay_mode") == "stay"


@contextmanager
def _caller_muted_for_agent(ctx):
    """Stay mode: mute the caller's read audio while one field is keyed; unmute on every path."""
    if not _stay_mode(ctx):
        yield
        return
    channel = ctx.channel
    try:
        reply = channel.api(STAY_MUTE % channel.uuid)
        if not reply.startswith("+OK"):   # fail closed: the agent would hear the key tones
            raise StepError("stay mode: the caller's audio could not be muted: %s"
                            % reply.strip()[:60])
        yield
    finally:
        if not channel.gone:
            try:
                channel.api(STAY_UNMUTE % channel.uuid)
            except Exception as exc:  # the outcome of the field matters more
                ctx.log.warning("stay mode: unmute failed: %s", type(exc).__name__)


def _stay_agent_gone(ctx):
    """Stay mode: True when the agent's leg (``pay_agent_uuid``) no longer exists."""
    agent = ctx.channel.variables.get("pay_agent_uuid") if _stay_mode(ctx) else None
    if not agent:
        return False
    if ctx.channel.api("uuid_exists %s" % agent).strip() == "true":
        return False
    ctx.log.info("stay mode: the agent's leg is gone; card entry ends")
    return True


def _agent_request(ctx, kinds):
    """An agent's request (agent API) of one of ``kinds``, taken between fields, or None."""
    take = ctx.services.agent_requests
    return take(kinds) if take is not None else None


def _flush_keys(ctx):
    """Drop the cancel key an agent's cancel sent, if no field was open to read it."""
    try:
        ctx.channel.api("uuid_flush_dtmf %s" % ctx.channel.uuid)
    except CommandFailed as exc:
        ctx.log.warning("could not flush the keys after a cancel: %s", exc)


def _recapture(field, done):
    """Fields to ask again when the agent asks for ``field`` again: the security code's
    length depends on the number's brand, so a new number means a new code."""
    again = [field]
    if field == "number" and "security_code" in done:
        again.append("security_code")
    for name in again:
        done.remove(name)
    return again


def _observe(ctx, field, error_type):
    metrics = ctx.services.metrics
    observe = getattr(metrics, "observe_card_field", None)
    if observe is not None:
        observe(ctx.services.tenant, field, error_type)


def _notify(ctx, kind, **fields):
    callback = ctx.services.on_payment_event
    if callback is not None:
        callback(kind, fields)
