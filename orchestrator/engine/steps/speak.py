"""``speak``: text to speech, for prompts no sound file exists for."""
from typing import TYPE_CHECKING

from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Speak(StepKind):
    name = "speak"
    title = "Speak text (TTS)"
    description = ("Speaks text with the TTS engine and voice from the service config, or the ones given "
                   "here. `- speak: Hello` is short for {text: Hello}.")
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "title": "Text", "description": "What to say; ${...} allowed."},
            "engine": {"type": "string", "description": "TTS engine, e.g. flite (default: service config)."},
            "voice": {"type": "string", "description": "TTS voice, e.g. kal (default: service config)."},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    shorthand = "text"
    example = {"text": "Welcome"}

    def run(self, ctx: "FlowContext") -> None:
        ctx.channel.speak(ctx.render(self.config["text"]),
                          engine=ctx.render(self.config.get("engine", ctx.settings.tts_engine)),
                          voice=ctx.render(self.config.get("voice", ctx.settings.tts_voice)))
