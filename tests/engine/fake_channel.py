"""A stand-in for ``orchestrator.esl.channel.Channel`` that records what steps ask of it.

``keys`` scripts what the caller does at each ``collect_digits``: a DigitResult, or one of the
shortcuts "timeout", "cancel", or a digit string (optionally ending with "#").
``fail_on`` makes a named method raise an exception, to simulate hangups and timeouts.
"""
from orchestrator.engine.errors import DigitResult


class FakeChannel:
    def __init__(self, variables=None, keys=(), fail_on=None, responses=None):
        self.uuid = "00000000-0000-0000-0000-000000000001"
        self.variables = dict(variables or {})
        self.destination_number = "1000"
        self.caller_id_number = "5551234"
        self.calls = []
        self.keys = list(keys)
        self.fail_on = dict(fail_on or {})
        self.responses = dict(responses or {})

    def _record(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        failure = self.fail_on.get(name)
        if failure is not None:
            raise failure

    def answer(self, timeout=10.0):
        self._record("answer")

    def playback(self, path, timeout=None):
        self._record("playback", path)
        return self.responses.get(path, "FILE PLAYED")

    def speak(self, text, engine=None, voice=None, timeout=None):
        self._record("speak", text, engine=engine, voice=voice)
        return "_none_"

    def say(self, value, kind="number", language="en", method="pronounced", gender="FEMININE", timeout=None):
        self._record("say", value, kind=kind, language=language)
        return "_none_"

    def collect_digits(self, prompts=(), min_digits=1, max_digits=1, terminators="#", first_digit_timeout=5.0,
                       inter_digit_timeout=3.0, cancel_key="*", barge_in=True):
        self._record("collect_digits", tuple(prompts), min_digits=min_digits, max_digits=max_digits,
                     terminators=terminators, first_digit_timeout=first_digit_timeout,
                     inter_digit_timeout=inter_digit_timeout, cancel_key=cancel_key, barge_in=barge_in)
        if not self.keys:
            return DigitResult("timeout", "", "")
        key = self.keys.pop(0)
        if isinstance(key, DigitResult):
            return key
        if key == "timeout":
            return DigitResult("timeout", "", "")
        if key == "cancel":
            return DigitResult("cancelled", "", "")
        if key.endswith("#"):
            return DigitResult("ok", key[:-1], "#")
        return DigitResult("ok", key, "")

    def set_variable(self, name, value):
        self._record("set_variable", name, value)
        self.variables[name] = value

    def unset_variable(self, name):
        self._record("unset_variable", name)
        self.variables.pop(name, None)

    def transfer(self, extension, dialplan="XML", context="default"):
        self._record("transfer", extension, dialplan=dialplan, context=context)

    def hangup(self, cause="NORMAL_CLEARING"):
        self._record("hangup", cause)

    def execute(self, app, arg="", timeout=None):
        self._record("execute", app, arg)
        return {}

    # ---- helpers for assertions ----
    def names(self):
        return [name for name, _, _ in self.calls]

    def heard(self):
        """What the caller heard outside collects: (method, first argument)."""
        return [(name, args[0]) for name, args, _ in self.calls if name in ("playback", "speak", "say")]
