"""The port between the engine and a call: what a step may ask of the switch, as verbs.

The engine owns these protocols and ``orchestrator.esl`` implements them (``esl.channel``
for the call's own outbound socket, ``esl.commands`` for commands on any leg over either kind
of socket). A step never writes FreeSWITCH command text and never reads a reply: it calls a
verb and gets a value or one of the errors below. The tests' fake channel implements the same
protocols and a type checker holds both to them, so neither can drift.

One error contract for every command on every socket:

- ``CallGone``: the call (or the connection carrying it) is gone; nothing more can be done.
- ``CommandTimeout``: the switch did not answer within its deadline.
- ``CommandFailed``: the switch answered, and said no (``-ERR``, ``-USAGE``, an unexpected reply).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Mapping, Optional, Protocol, Sequence, Tuple


# -- errors ------------------------------------------------------------------------------------

class CallError(Exception):
    """Base of every error a channel or a switch command raises."""


class CallGone(CallError):
    """The caller hung up or the socket went away: nothing more can be done on this call."""

    def __init__(self, cause: str = "UNKNOWN") -> None:
        super().__init__(cause)
        self.cause = cause


class CommandTimeout(CallError):
    """A reply or a completion did not arrive within its deadline."""


class CommandFailed(CallError):
    """The switch answered a command and refused it."""


# -- values --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prompt:
    """One thing to play while digits are awaited: a file, a text to speak or a value to say."""

    kind: str   # file | speak | say
    value: str
    options: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DigitResult:
    """What a caller keyed. ``status``: ok, timeout (nothing keyed), incomplete, cancelled."""

    status: str
    digits: str = ""
    terminator: str = ""


@dataclass(frozen=True)
class SecretResult:
    """How a secret entry ended. ``status``: ok, timeout, incomplete, cancelled. No digits here:
    they went straight to the ``accept`` callback given to ``collect_secret``."""

    status: str
    length: int = 0
    terminator: str = ""


@dataclass(frozen=True)
class BridgeResult:
    answered: bool
    cause: str


# what the say module is asked to read; an amount is counts and the catalog's currency words
# (catalog/money_words.py), never the module's CURRENCY, which names one currency for all
SAY_KINDS = ("number", "digits", "date")


# -- the protocols -------------------------------------------------------------------------------

class Switch(Protocol):
    """Commands on any leg of the node, by uuid: what the agent API does over an inbound
    connection and what a call's flow does to other legs (the agent's) over its own socket.
    Each verb is one command; a refusal raises ``CommandFailed``."""

    @property
    def node_key(self) -> str:
        """Which switch these commands reach (for caches of its files)."""

    def leg_exists(self, uuid: str) -> bool: ...

    def get_variable(self, uuid: str, name: str) -> Optional[str]:
        """The variable's value, or None when it is not set."""

    def set_variable(self, uuid: str, name: str, value: str) -> None:
        """Set a variable without an event carrying it (``uuid_setvar``)."""

    def clear_variable(self, uuid: str, name: str) -> None: ...

    def set_variables(self, uuid: str, pairs: Sequence[Tuple[str, str]]) -> None: ...

    def transfer(self, uuid: str, extension: str, dialplan: str = "XML",
                 context: str = "default") -> None: ...

    def bridge(self, uuid: str, other: str) -> None:
        """Join two live legs (``uuid_bridge``)."""

    def hang_up(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None: ...

    def stop_media(self, uuid: str) -> None:
        """Stop whatever the leg plays now and what is queued (hold music)."""

    def play_to_leg(self, uuid: str, path: str) -> None:
        """Play a file or stream to a leg in the background (hold music)."""

    def pause_recording(self, uuid: str, path: str) -> None: ...

    def resume_recording(self, uuid: str, path: str) -> None: ...

    def mute_toward_listener(self, uuid: str) -> None:
        """Mute what the leg sends (its read audio) toward eavesdroppers and recordings."""

    def unmute_toward_listener(self, uuid: str) -> None: ...

    def receive_keys(self, uuid: str, keys: str) -> None:
        """Queue keys on the leg as if its caller had pressed them (no event under
        ``sensitive_dtmf``)."""

    def flush_keys(self, uuid: str) -> None:
        """Drop keys queued on the leg that nobody read."""

    def file_exists(self, path: str) -> bool:
        """Whether a file is there on the switch's host."""


class Channel(Protocol):
    """The call a flow runs on, through its own socket. Every wait has a deadline."""

    uuid: str
    destination_number: str
    caller_id_number: str

    @property
    def variables(self) -> Mapping[str, str]:
        """The channel variables as last heard from the switch (never a secret)."""

    def variable(self, name: str) -> Optional[str]:
        """``variables.get(name)``, where the channel can find one name cheaper than all."""

    @property
    def gone(self) -> bool: ...

    @property
    def switch(self) -> Switch:
        """Commands on other legs of this call's node (the agent's leg in agent modes)."""

    # prompts
    def answer(self, timeout: Optional[float] = None) -> None: ...

    def playback(self, path: str, timeout: Optional[float] = None) -> str: ...

    def speak(self, text: str, engine: Optional[str] = None, voice: Optional[str] = None,
              timeout: Optional[float] = None) -> str: ...

    def say(self, value: str, kind: str = "number", language: str = "en",
            method: str = "pronounced", gender: str = "FEMININE",
            timeout: Optional[float] = None) -> str: ...

    # keys
    def collect_digits(self, prompts: Iterable[Prompt] = (), *, min_digits: int = 1,
                       max_digits: int = 1, terminators: str = "#",
                       first_digit_timeout: float = 5.0, inter_digit_timeout: float = 3.0,
                       cancel_key: str = "*", barge_in: bool = True,
                       flush: bool = False) -> DigitResult: ...

    def secure_entry(self, on: bool) -> None:
        """While on, no key the caller presses becomes an event, a log line or CDR history."""

    def collect_secret(self, accept: Callable[[str], None], *, prompt: str, min_digits: int,
                       max_digits: int, first_digit_timeout: float = 10.0,
                       inter_digit_timeout: float = 5.0, terminators: str = "#",
                       cancel_key: str = "*",
                       tts: Optional[Tuple[str, str]] = None) -> SecretResult:
        """Read one secret field and hand its digits to ``accept`` only. ``tts`` (engine,
        voice) speaks a ``say:`` prompt (the caller's language's voice); None: the service's."""

    def flush_keys(self) -> None: ...

    def flush_announcements(self, timeout: Optional[float] = None) -> None:
        """Play now what a secure call holds back for its next read (announcements wait
        there on such a call), returning when it has been heard or stopped."""

    # this call's state
    def set_variable(self, name: str, value: str) -> None: ...

    def set_variables(self, pairs: Sequence[Tuple[str, str]]) -> None:
        """``set_variable`` for each pair, in as few commands as the switch allows."""

    def unset_variable(self, name: str) -> None: ...

    def clear_variable(self, name: str) -> None:
        """Unset a variable without an event carrying its old value."""

    def mute_toward_listener(self) -> None: ...

    def unmute_toward_listener(self) -> None: ...

    def pause_recording(self, path: str) -> None: ...

    def resume_recording(self, path: str) -> None: ...

    def file_exists(self, path: str) -> bool: ...

    # where the call goes
    def transfer(self, extension: str, dialplan: str = "XML", context: str = "default") -> None: ...

    def bridge(self, dial_string: str, timeout: float = 60.0) -> BridgeResult: ...

    def bridge_to_leg(self, leg: str, held: bool = False) -> bool:
        """Join this call to another live leg; False when that leg is gone. ``held``: the leg
        waits with hold music, stopped right before the bridge."""

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None: ...
