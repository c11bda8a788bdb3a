"""A stand-in for the engine's ``Channel`` (and ``Switch``) that records what steps ask of it.

``keys`` scripts what the caller does at each ``collect_digits``: a DigitResult, or one of the
shortcuts "timeout", "cancel", or a digit string (optionally ending with "#").
``fail_on`` makes a named method raise an exception, to simulate hangups, timeouts and refusals.
``legs`` are the other live legs the fake switch knows (``leg_exists``).

mypy holds both classes to the protocols (see the end of the file), so a verb added to the
port cannot be missing here.
"""
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from orchestrator.engine.channel import BridgeResult, DigitResult, Prompt, SecretResult

Call = Tuple[str, Tuple[Any, ...], Dict[str, Any]]


class _Recorder:
    def __init__(self, fail_on: Optional[Dict[str, BaseException]] = None) -> None:
        self.calls: List[Call] = []
        self.fail_on: Dict[str, BaseException] = dict(fail_on or {})

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))
        failure = self.fail_on.get(name)
        if failure is not None:
            raise failure

    def names(self) -> List[str]:
        return [name for name, _, _ in self.calls]


class FakeSwitch(_Recorder):
    """Commands on any leg, recorded; ``legs`` is the set of uuids that exist."""

    def __init__(self, legs: Iterable[str] = (), files: Iterable[str] = (),
                 fail_on: Optional[Dict[str, BaseException]] = None) -> None:
        super().__init__(fail_on)
        self.legs = set(legs)
        self.files = set(files)
        self.leg_variables: Dict[str, Dict[str, str]] = {}

    @property
    def node_key(self) -> str:
        return "fake-node"

    def leg_exists(self, uuid: str) -> bool:
        self._record("leg_exists", uuid)
        return uuid in self.legs

    def get_variable(self, uuid: str, name: str) -> Optional[str]:
        self._record("get_variable", uuid, name)
        return self.leg_variables.get(uuid, {}).get(name)

    def set_variable(self, uuid: str, name: str, value: str) -> None:
        self._record("set_variable", uuid, name, value)
        self.leg_variables.setdefault(uuid, {})[name] = value

    def clear_variable(self, uuid: str, name: str) -> None:
        self._record("clear_variable", uuid, name)
        self.leg_variables.get(uuid, {}).pop(name, None)

    def set_variables(self, uuid: str, pairs: Sequence[Tuple[str, str]]) -> None:
        self._record("set_variables", uuid, tuple(pairs))
        self.leg_variables.setdefault(uuid, {}).update(pairs)

    def transfer(self, uuid: str, extension: str, dialplan: str = "XML",
                 context: str = "default") -> None:
        self._record("transfer", uuid, extension, dialplan, context)

    def bridge(self, uuid: str, other: str) -> None:
        self._record("bridge", uuid, other)

    def hang_up(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        self._record("hang_up", uuid, cause)
        self.legs.discard(uuid)

    def stop_media(self, uuid: str) -> None:
        self._record("stop_media", uuid)

    def play_to_leg(self, uuid: str, path: str) -> None:
        self._record("play_to_leg", uuid, path)

    def pause_recording(self, uuid: str, path: str) -> None:
        self._record("pause_recording", uuid, path)

    def resume_recording(self, uuid: str, path: str) -> None:
        self._record("resume_recording", uuid, path)

    def mute_toward_listener(self, uuid: str) -> None:
        self._record("mute_toward_listener", uuid)

    def unmute_toward_listener(self, uuid: str) -> None:
        self._record("unmute_toward_listener", uuid)

    def receive_keys(self, uuid: str, keys: str) -> None:
        self._record("receive_keys", uuid, keys)

    def flush_keys(self, uuid: str) -> None:
        self._record("flush_keys", uuid)

    def file_exists(self, path: str) -> bool:
        self._record("file_exists", path)
        return path in self.files


class FakeChannel(_Recorder):
    def __init__(self, variables: Optional[Dict[str, str]] = None, keys: Iterable[Any] = (),
                 fail_on: Optional[Dict[str, BaseException]] = None,
                 responses: Optional[Dict[str, str]] = None, legs: Iterable[str] = (),
                 secrets: Iterable[Any] = ()) -> None:
        super().__init__(fail_on)
        self.uuid = "00000000-0000-0000-0000-000000000001"
        self._variables: Dict[str, str] = dict(variables or {})
        self.destination_number = "1000"
        self.caller_id_number = "5551234"
        self.keys = list(keys)
        self.secrets = list(secrets)   # per collect_secret: (status, digits) or a status
        self.responses = dict(responses or {})
        self._switch = FakeSwitch(legs, fail_on=fail_on)
        self._gone = False

    @property
    def variables(self) -> Dict[str, str]:
        return self._variables

    def variable(self, name: str) -> Optional[str]:
        return self._variables.get(name)

    @property
    def gone(self) -> bool:
        return self._gone

    @property
    def switch(self) -> FakeSwitch:
        return self._switch

    # prompts
    def answer(self, timeout: Optional[float] = 10.0) -> None:
        self._record("answer")

    def playback(self, path: str, timeout: Optional[float] = None) -> str:
        self._record("playback", path)
        return self.responses.get(path, "FILE PLAYED")

    def speak(self, text: str, engine: Optional[str] = None, voice: Optional[str] = None,
              timeout: Optional[float] = None) -> str:
        self._record("speak", text, engine=engine, voice=voice)
        return "_none_"

    def say(self, value: str, kind: str = "number", language: str = "en",
            method: str = "pronounced", gender: str = "FEMININE",
            timeout: Optional[float] = None) -> str:
        self._record("say", value, kind=kind, language=language)
        return "_none_"

    # keys
    def collect_digits(self, prompts: Iterable[Prompt] = (), *, min_digits: int = 1,
                       max_digits: int = 1, terminators: str = "#",
                       first_digit_timeout: float = 5.0, inter_digit_timeout: float = 3.0,
                       cancel_key: str = "*", barge_in: bool = True,
                       flush: bool = False) -> DigitResult:
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

    def secure_entry(self, on: bool) -> None:
        self._record("secure_entry", on)

    def collect_secret(self, accept: Callable[[str], None], *, prompt: str, min_digits: int,
                       max_digits: int, first_digit_timeout: float = 10.0,
                       inter_digit_timeout: float = 5.0, terminators: str = "#",
                       cancel_key: str = "*",
                       tts: Optional[Tuple[str, str]] = None) -> SecretResult:
        self._record("collect_secret", prompt, min_digits=min_digits, max_digits=max_digits,
                     **({"tts": tts} if tts else {}))
        entry = self.secrets.pop(0) if self.secrets else "timeout"
        status, digits = (entry, "") if isinstance(entry, str) else entry
        if status == "ok":
            accept(digits)
        return SecretResult(status, len(digits), "#" if status == "ok" else "")

    def flush_keys(self) -> None:
        self._record("flush_keys")

    # this call's state
    def set_variable(self, name: str, value: str) -> None:
        self._record("set_variable", name, value)
        self._variables[name] = value

    def set_variables(self, pairs: Sequence[Tuple[str, str]]) -> None:
        for name, value in pairs:
            self.set_variable(name, value)

    def unset_variable(self, name: str) -> None:
        self._record("unset_variable", name)
        self._variables.pop(name, None)

    def clear_variable(self, name: str) -> None:
        self._record("clear_variable", name)
        self._variables.pop(name, None)

    def mute_toward_listener(self) -> None:
        self._record("mute_toward_listener")

    def unmute_toward_listener(self) -> None:
        self._record("unmute_toward_listener")

    def pause_recording(self, path: str) -> None:
        self._record("pause_recording", path)

    def resume_recording(self, path: str) -> None:
        self._record("resume_recording", path)

    def file_exists(self, path: str) -> bool:
        self._record("file_exists", path)
        return path in self._switch.files

    # where the call goes
    def transfer(self, extension: str, dialplan: str = "XML", context: str = "default") -> None:
        self._record("transfer", extension, dialplan=dialplan, context=context)

    def bridge(self, dial_string: str, timeout: float = 60.0) -> BridgeResult:
        self._record("bridge", dial_string)
        return BridgeResult(True, "SUCCESS")

    def bridge_to_leg(self, leg: str, held: bool = False) -> bool:
        self._record("bridge_to_leg", leg, held=held)
        return leg in self._switch.legs

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        self._record("hangup", cause)

    def flush_announcements(self, timeout: Optional[float] = None) -> None:
        """Nothing is held back: a fake call is never secure."""

    # ---- helpers for assertions ----
    def heard(self) -> List[Tuple[str, Any]]:
        """What the caller heard outside collects: (method, first argument)."""
        return [(name, args[0]) for name, args, _ in self.calls if name in ("playback", "speak", "say")]


if TYPE_CHECKING:  # the type check: the fakes are what the engine's protocols describe
    from orchestrator.engine.channel import Channel, Switch

    def _is_a_channel(fake: FakeChannel) -> Channel:
        return fake

    def _is_a_switch(fake: FakeSwitch) -> Switch:
        return fake
