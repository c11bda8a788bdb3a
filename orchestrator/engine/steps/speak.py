"""``speak``: text to speech, for prompts no sound file exists for."""
from typing import TYPE_CHECKING

from ..call_language import voice as call_voice
from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Speak(StepKind):
    name = "speak"
    title = "Speak text (TTS)"
    description = ("Speaks text with the TTS engine and voice of the call's language's catalog (else the "
                   "service config's), or the ones given here. `- speak: Hello` is short for {text: Hello}.")
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "title": "Text", "description": "What to say; ${...} allowed."},
            "engine": {"type": "string", "description": "TTS engine, e.g. flite (default: the call's language's, else the service config's)."},
            "voice": {"type": "string", "description": "TTS voice, e.g. kal (default: the call's language's, else the service config's)."},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    shorthand = "text"
    example = {"text": "Welcome"}

    def run(self, ctx: "FlowContext") -> None:
        engine, voice = call_voice(ctx)   # the call's language's voice, unless named here
        ctx.channel.speak(ctx.render(self.config["text"]),
                          engine=ctx.render(self.config.get("engine", engine)),
                          voice=ctx.render(self.config.get("voice", voice)))
