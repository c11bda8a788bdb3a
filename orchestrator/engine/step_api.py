"""What a step kind is: a name, a schema fragment, static facts for validation, and ``run``.

Each kind lives in its own module under ``orchestrator.engine.steps`` and registers itself
with ``@register``; the schema, the validator and the runner all read the same registry, so
adding a kind is adding one file. The static facts (which ids a step can jump to, whether
execution can fall through to the next step, which variables it defines, which gateways it
charges and where it sends the caller) let ``validate`` find dangling targets and unreachable
steps, and the service a tenant's flow that reaches past its tenant, without running anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Tuple, Type, Union

if TYPE_CHECKING:  # pragma: no cover
    from .context import FlowContext

RelPath = Tuple[Any, ...]  # a path inside the step's value, e.g. ("on", "timeout")


@dataclass(frozen=True)
class Goto:
    """Continue at the step with this id."""

    target: str


@dataclass(frozen=True)
class Finish:
    """End the flow now with this result (``completed`` or ``transferred``). ``to_agent_leg``:
    the caller is back with the very agent leg that held or listened during a payment."""

    result: str
    detail: str = ""
    to_agent_leg: bool = False


StepResult = Union[None, Goto, Finish]  # None: go on with the next step


class StepError(Exception):
    """A step could not do its job; the runner ends the flow with result ``error``."""


class StepKind:
    """Base of every step kind. Subclasses set the class attributes and implement ``run``.

    ``schema`` describes the step's value (what follows ``kind:``). ``shorthand`` names the
    key a bare scalar stands for, so ``play: ivr/ivr-welcome.wav`` means
    ``play: {file: ivr/ivr-welcome.wav}``; a kind whose schema is not an object (``goto``)
    takes the scalar as is.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    schema: ClassVar[Dict[str, Any]]
    shorthand: ClassVar[Optional[str]] = None
    example: ClassVar[Any] = {}

    def __init__(self, config: Any, flow_language: str = "en"):
        self.config = config
        self.flow_language = flow_language

    # ---- static facts, used by validate before any call exists ---------------------------

    @classmethod
    def normalize(cls, value: Any) -> Any:
        """Expand shorthands and fill schema defaults, so later code sees one shape."""
        if cls.schema.get("type") != "object":
            return value
        if value is None:
            value = {}
        elif cls.shorthand and not isinstance(value, (dict, list)):
            value = {cls.shorthand: value}
        if isinstance(value, dict):
            value = dict(value)
            for key, prop in cls.schema.get("properties", {}).items():
                if "default" in prop and key not in value:
                    value[key] = prop["default"]
        return value

    @classmethod
    def check(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Semantic checks the schema cannot express; (path in the value, message) pairs."""
        return []

    @classmethod
    def jump_targets(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Step ids this step may continue at, with where each is written."""
        return []

    @classmethod
    def falls_through(cls, config: Any) -> bool:
        """Whether execution may continue with the next step in the list."""
        return True

    @classmethod
    def defined_variables(cls, config: Any) -> List[str]:
        """Flow variables this step sets, so references to them are not reported unknown;
        ``<name>.*`` stands for every ``<name>.<...>`` (the items of a list)."""
        return []

    @classmethod
    def variables_read(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Variables the step reads by name rather than through ``${...}`` (a list to walk),
        with where each is written, so ``validate`` reports one that no step fills."""
        return []

    @classmethod
    def unhandled_outcomes(cls, config: Any) -> List[Tuple[RelPath, str, str]]:
        """Outcomes this step can end with that the flow gives no branch: ``(where, outcome,
        what happens then)``. ``validate`` warns of each (the call would end in the
        dialplan's fallback rather than where the flow author chose)."""
        return []

    @classmethod
    def conditions(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Values that are ``branch``-style conditions rather than text templates."""
        return []

    @classmethod
    def gateways(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Gateways this step charges through, with where each is named: a tenant's flow may
        name only that tenant's (``orchestrator/tenancy``), checked when the config loads."""
        return []

    @classmethod
    def card_on_file(cls, config: Any) -> List[Tuple[RelPath, str, str]]:
        """What the step needs of a gateway's card on file: (where, gateway name, mode), the
        mode one of ``payments.gateways.tokens.MODES``; ``validate`` checks the gateway's
        type offers it."""
        return []

    @classmethod
    def web_services(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """Web services this step asks, with where each is named (checked like gateways)."""
        return []

    @classmethod
    def catalog_keys(cls, config: Any) -> List[Tuple[RelPath, str, str]]:
        """Keys of the language catalog this step says: ``(where, section, key)``, ``section``
        being ``prompts`` (what the caller hears) or ``messages`` (SMS texts). ``validate``
        looks each one up in every catalog the step can speak (``engine/languages.py``): a key
        missing there would end the call mid-flow, perhaps after the card was charged."""
        return []

    @classmethod
    def sms_providers(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """SMS providers this step texts through, with where each is named (checked like
        gateways)."""
        return []

    @classmethod
    def payment_links(cls, config: Any) -> List[Tuple[RelPath, str]]:
        """``payment_links`` entries this step makes links with, with where each is named
        (checked like gateways)."""
        return []

    @classmethod
    def destinations(cls, config: Any) -> List[Tuple[RelPath, str, str]]:
        """Where in the dialplan this step sends the caller: ``(where, extension, context)`` as
        written (``${...}`` included), so a tenant's allow list can be checked before a call."""
        return []

    # ---- run time ---------------------------------------------------------------------------

    def prepare(self, ctx: "FlowContext") -> None:
        """Check, when the call's flow starts, what can only be known then (amounts from the
        dialplan, gateway names); a StepError here ends the flow before the caller is asked
        for anything."""

    def run(self, ctx: "FlowContext") -> StepResult:
        raise NotImplementedError


# ---- the ``on:`` map: where a step continues for each way it can end -----------------------

def on_schema(descriptions: Dict[str, str], description: str = "") -> Dict[str, Any]:
    """Schema of an ``on:`` map whose keys are a step's outcomes, each naming a step id."""
    from .ids import step_reference

    schema: Dict[str, Any] = {"type": "object", "additionalProperties": False, "default": {},
                              "properties": {outcome: step_reference(text)
                                             for outcome, text in descriptions.items()}}
    if description:
        schema["description"] = description
    return schema


def on_jump_targets(config: Dict[str, Any]) -> List[Tuple[RelPath, str]]:
    """``jump_targets`` of a step whose only jumps are its ``on:`` map."""
    return [(("on", outcome), target) for outcome, target in config["on"].items()]


def missing_branches(config: Dict[str, Any], outcomes: Tuple[str, ...], why: str
                     ) -> List[Tuple[RelPath, str, str]]:
    """``unhandled_outcomes`` of a step whose ``on:`` should name each of ``outcomes``."""
    return [(("on",), outcome, why) for outcome in outcomes if outcome not in config.get("on", {})]


def continue_on(step: str, config: Dict[str, Any], outcome: str) -> Goto:
    """Where ``on:`` says to go for ``outcome``; a StepError naming the step when it says nothing."""
    target = config["on"].get(outcome)
    if target is None:
        raise StepError(f"{step} ended with {outcome} and has no 'on: {{{outcome}: <step id>}}' target")
    return Goto(target)


_REGISTRY: Dict[str, Type[StepKind]] = {}


def register(cls: Type[StepKind]) -> Type[StepKind]:
    """Class decorator: make a step kind known under ``cls.name``."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"step kind '{cls.name}' registered twice ({existing.__module__}, {cls.__module__})")
    _REGISTRY[cls.name] = cls
    return cls


def registered_kinds() -> Dict[str, Type[StepKind]]:
    """Every registered kind, sorted by name (the order of the schema and of messages)."""
    from . import steps  # noqa: F401  (importing the package registers every kind)

    return dict(sorted(_REGISTRY.items()))
