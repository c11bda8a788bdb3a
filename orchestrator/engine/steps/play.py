"""``play``: play a sound file, a tone or silence."""
from typing import TYPE_CHECKING

from ..prompts import report_playback
from ..channel import Prompt
from ..step_api import StepKind, register

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext


@register
class Play(StepKind):
    name = "play"
    title = "Play a file, tone or silence"
    description = ("Plays exactly one of: file (a path relative to FreeSWITCH's sound prefix, e.g. "
                   "ivr/ivr-welcome.wav), tone_stream (e.g. %(200,0,500,600,700)) or silence_stream "
                   "(milliseconds). `- play: ivr/ivr-welcome.wav` is short for the file form.")
    schema = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "title": "Sound file", "description": "Path or URL FreeSWITCH can play; ${...} allowed."},
            "tone_stream": {"type": "string", "title": "Tone",
                            "description": "A TGML tone, with or without the tone_stream:// prefix, e.g. %(200,0,500,600,700)."},
            "silence_stream": {"type": "integer", "minimum": 1, "title": "Silence",
                               "description": "Milliseconds of silence."},
        },
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
    }
    shorthand = "file"
    example = {"file": "ivr/ivr-welcome.wav"}

    def run(self, ctx: "FlowContext") -> None:
        if "file" in self.config:
            path = ctx.render(self.config["file"])
        elif "tone_stream" in self.config:
            tone = ctx.render(self.config["tone_stream"])
            path = tone if tone.startswith("tone_stream://") else "tone_stream://" + tone
        else:
            path = f"silence_stream://{int(self.config['silence_stream'])}"
        report_playback(ctx.log, Prompt("file", path, {}), ctx.channel.playback(path))
