"""``collect_card``: the caller keys card number, expiry, security code (and postal code).

Digits never travel as DTMF events: the step turns ``sensitive_dtmf`` on, reads each field
with ``Channel.collect_secret`` straight into the one secret type (``CardData``), and turns it
off again. A running recording is paused for the whole entry, on every path out. The flow sees
only ``card.brand``, ``card.bin`` and ``card.last4``.

Prompts: a field's question comes from the language catalog (``card.number``, ...); after a
failed attempt the error is said first (``error.<error type>``). A flow can override any of
them with ``prompts:`` entries chosen by field, attempt and error type, like Twilio's
``<Prompt for= attempt= errorType=>``; the most specific entry wins.

Stay-on-line (``pay_mode=stay``, ``engine/stay.py``): the agent's leg eavesdrops on this call,
so around each field the caller's read audio is muted toward the listener, and unmuted on every
path: the caller's in-band key tones reach neither the agent nor a recording. Before each field
the agent's leg is looked for: an agent who hung up ends the entry as cancelled, so the flow
routes the caller without them; so does a field that failed (timed out, short) after the agent
hung up during it, rather than asking the caller again for a payment nobody is on (measured on
1.10.12: two more attempts, about 35 s, before the caller heard goodbye).

What happens is published as typed payment events (``payments/events.py``): each field
started, accepted (with its mask) or rejected (with its error type), and how the entry ended.
"""
from typing import TYPE_CHECKING, List

from ...catalog import CatalogError
from ...payments.brands import BRANDS
from ...payments.card import CardData, CardError
from ...payments.events import (CardAttemptsExhausted, CardCancelled, CardComplete, FieldAccepted,
                                FieldCancelled, FieldRejected, FieldStarted)
from ...payments.validation import (CONFIRMATION_MISMATCH, ENTRY_LENGTHS, FIELD_ERROR_TYPES, FIELDS,
                                    INPUT_TIMEOUT, INVALID_CARD_TYPE, NUMBER_CONFIRMATION,
                                    SHORT_ENTRY_ERROR)
from .. import stay
from ..channel import CommandFailed
from ..prompts import catalog_renderer
from ..step_api import (StepError, StepKind, StepResult, continue_on, on_jump_targets, on_schema,
                        register)

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

CANCELLED, TOO_MANY_FAILED_ATTEMPTS = "cancelled", "too-many-failed-attempts"
OUTCOMES = (CANCELLED, TOO_MANY_FAILED_ATTEMPTS)


def _prompt_override_schema():
    return {
        "type": "object",
        "properties": {
            "for": {"enum": list(FIELDS) + [NUMBER_CONFIRMATION],
                    "description": "The field this prompt asks for."},
            "attempt": {"type": "integer", "minimum": 1, "description": "Only on this attempt."},
            "error_type": {"enum": list(FIELD_ERROR_TYPES), "description": "Only after this error."},
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
                           "description": "Recordings (the paths they are written to) to pause during entry; "
                                          "entries whose variable is not set are skipped."},
            "per_field": {
                "type": "object", "default": {}, "additionalProperties": False,
                "description": "Overrides of max_attempts and the timeouts for one field.",
                "properties": {f: {"type": "object", "additionalProperties": False, "properties": {
                    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
                    "first_digit_timeout": {"type": "number", "minimum": 1},
                    "inter_digit_timeout": {"type": "number", "minimum": 1}}} for f in FIELDS}},
            "prompts": {"type": "array", "items": _prompt_override_schema(), "default": []},
            "on": on_schema({o: "Where to continue when entry ends " + o for o in OUTCOMES}),
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
        return on_jump_targets(config)

    @classmethod
    def defined_variables(cls, config):
        return ["card.brand", "card.bin", "card.last4", "payment.result"]

    @classmethod
    def catalog_keys(cls, config):
        """The question of each field and the errors said before it is asked again; a field
        whose every prompt an unconditional ``prompts:`` entry overrides says none of them."""
        keys = []
        for index, field in enumerate(config["fields"]):
            asked = [field] + ([NUMBER_CONFIRMATION] if field == "number" and config["confirm_number"] else [])
            for name in asked:
                if any(entry["for"] == name and "attempt" not in entry and "error_type" not in entry
                       for entry in config["prompts"]):
                    continue
                for key in _catalog_keys_of(name, config):
                    keys.append((("fields", index), "prompts", key))
        return keys

    # -- run time ----------------------------------------------------------------------------
    def run(self, ctx: "FlowContext") -> StepResult:
        services = ctx.services
        if services is None:
            raise StepError("collect_card needs the payment services (gateways, prompts)")
        config = self.config
        if ctx.card is not None:
            ctx.card.wipe()
        ctx.card = CardData(valid_brands=config.get("valid_brands"))
        try:
            renderer = catalog_renderer(ctx)   # the call's language now: a menu may have chosen it
        except CatalogError as exc:
            raise StepError("collect_card: %s" % exc)
        recordings = [p for p in (ctx.render_optional(r) for r in config["recordings"]) if p]
        channel = ctx.channel
        _pause_recordings(ctx, recordings, pause=True)
        channel.secure_entry(True)
        try:
            pending: List[str] = list(config["fields"])
            done: List[str] = []
            while True:   # an agent's request is looked at between fields, and after the last
                request = _agent_request(ctx, ("cancel", "recapture"))
                if request == ("cancel",):
                    ctx.card.wipe()
                    _flush_keys(ctx)
                    return self._finish(ctx, CANCELLED)
                if request and request[1] in done:
                    again = _recapture(request[1], done)
                    pending = again + [f for f in pending if f not in again]
                if not pending:
                    break
                if stay.agent_gone(channel):
                    ctx.card.wipe()
                    return self._finish(ctx, CANCELLED)
                field = pending.pop(0)
                outcome = self._collect_field(ctx, renderer, field)
                if outcome is None and field == "number" and config["confirm_number"]:
                    outcome = self._collect_field(ctx, renderer, NUMBER_CONFIRMATION)
                if outcome is not None:
                    ctx.card.wipe()
                    return self._finish(ctx, outcome, field)
                done.append(field)
        finally:
            if not channel.gone:
                channel.secure_entry(False)
                _pause_recordings(ctx, recordings, pause=False)
        summary = ctx.card.summary
        for key in ("brand", "bin", "last4"):
            ctx.variables["card." + key] = getattr(summary, key)
        services.events.publish(CardComplete(brand=summary.brand, masked=summary.masked))
        return None

    def _collect_field(self, ctx, renderer, field):
        """Ask for one field until it is valid; None on success, else the outcome name."""
        card, events = ctx.card, ctx.services.events
        store_as = "number" if field == NUMBER_CONFIRMATION else field
        config = dict(self.config, **self.config["per_field"].get(store_as, {}))
        low, high = ENTRY_LENGTHS[store_as]
        if field == "security_code":
            low = high = BRANDS[card.brand].code_length if card.brand in BRANDS else 3
        accept = {
            "number": card.set_number, "expiry": card.set_expiry,
            "security_code": card.set_security_code, "postal_code": card.set_postal_code,
            NUMBER_CONFIRMATION: lambda digits: _confirm(card, digits),
        }[field]
        error = None
        for attempt in range(1, config["max_attempts"] + 1):
            prompt = self._prompt(ctx, renderer, field, attempt, error)
            events.publish(FieldStarted(field=field, attempt=attempt))
            try:
                with stay.field_muted(ctx.channel):
                    result = ctx.channel.collect_secret(
                        accept, prompt=prompt, min_digits=low, max_digits=high,
                        first_digit_timeout=config["first_digit_timeout"],
                        inter_digit_timeout=config["inter_digit_timeout"],
                        terminators=config["terminator"], cancel_key=config["cancel_key"],
                        tts=renderer.tts)
            except (CardError, ConfirmationMismatch) as exc:
                error = exc.error_type
            else:
                if result.status == "cancelled":
                    events.publish(FieldCancelled(field=field))
                    return CANCELLED
                if result.status == "ok":
                    events.publish(FieldAccepted(field=field, attempt=attempt, **_shown(card, field)))
                    return None
                if _agent_request(ctx, ("cancel",)):   # the agent cut the entry short
                    events.publish(FieldCancelled(field=field))
                    return CANCELLED
                if stay.agent_gone(ctx.channel):   # no new attempt for an agent who hung up mid-field
                    events.publish(FieldCancelled(field=field))
                    return CANCELLED
                error = INPUT_TIMEOUT if result.status == "timeout" else SHORT_ENTRY_ERROR[store_as]
            events.publish(FieldRejected(field=field, attempt=attempt, error_type=error))
            ctx.log.info("card entry: %s attempt %d of %d failed: %s", field, attempt,
                         config["max_attempts"], error)
        return TOO_MANY_FAILED_ATTEMPTS

    def _prompt(self, ctx, renderer, field, attempt, error):
        override = _best_override(self.config["prompts"], field, attempt, error)
        if override is not None:
            if "file" in override:
                return ctx.render(override["file"])
            return "say:" + ctx.render(override.get("text", ""))
        keys = ["error.%s" % error] if error else []
        if field == NUMBER_CONFIRMATION:
            keys.append("card.number.confirm")
        elif field == "security_code" and ctx.card.brand == "amex":
            keys.append("card.security_code.amex")
        else:
            keys.append("card.%s" % field)
        return renderer.entry_prompt(keys)

    def _finish(self, ctx, outcome, field=""):
        ctx.variables["payment.result"] = outcome
        events = ctx.services.events
        events.publish(CardCancelled() if outcome == CANCELLED else CardAttemptsExhausted(field=field))
        return continue_on("collect_card", self.config, outcome)


def _catalog_keys_of(field, config):
    """The catalog keys asking for ``field`` may say: its question (the amex one too when amex
    cards are accepted) and, when there is a second attempt, each error it can follow."""
    if field == NUMBER_CONFIRMATION:
        keys, errors = ["card.number.confirm"], [CONFIRMATION_MISMATCH]
    else:
        keys, errors = ["card.%s" % field], [SHORT_ENTRY_ERROR[field]]
        if field == "number":
            errors.append(INVALID_CARD_TYPE)
        if field == "security_code" and "amex" in (config.get("valid_brands") or ["amex"]):
            keys.append("card.security_code.amex")
    per_field = config["per_field"].get("number" if field == NUMBER_CONFIRMATION else field, {})
    if per_field.get("max_attempts", config["max_attempts"]) > 1:
        keys += ["error.%s" % error for error in [INPUT_TIMEOUT] + errors]
    return keys


class ConfirmationMismatch(Exception):
    """The number keyed to confirm is not the number keyed first."""

    error_type = CONFIRMATION_MISMATCH


def _confirm(card, digits):
    if not card.number_matches(digits):
        raise ConfirmationMismatch()


def _shown(card, field):
    """What an agent may see of an accepted field: brand and BIN + last four, or a mask."""
    if field in ("number", NUMBER_CONFIRMATION):
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


def _pause_recordings(ctx, recordings, pause):
    """Pause (or resume) each running recording: it takes in no audio at all while digits are keyed.

    Not ``mask``: FreeSWITCH applies a mask when audio leaves the recorder's buffer, not when
    it is heard, and on 1.10.12 that buffer can hold seconds of the caller's audio (after a TTS
    prompt the mixed recorder waits on a partial frame while nothing is played, so keyed tones
    pile up unwritten). After ``unmask`` they were written in clear (tests/live/
    test_card_recording.py). A paused recorder does not buffer the caller's audio at all.
    """
    channel = ctx.channel
    for path in recordings:
        try:
            if pause:
                channel.pause_recording(path)
            else:
                channel.resume_recording(path)
        except CommandFailed as exc:   # a failed resume must not hide the outcome of the payment
            ctx.log.warning("recording %s: %s refused: %s", path, "pause" if pause else "resume", exc)


def _agent_request(ctx, kinds):
    """An agent's request (agent API) of one of ``kinds``, taken between fields, or None."""
    take = ctx.services.agent_requests
    return take(kinds) if take is not None else None


def _flush_keys(ctx):
    """Drop the cancel key an agent's cancel sent, if no field was open to read it."""
    try:
        ctx.channel.flush_keys()
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
