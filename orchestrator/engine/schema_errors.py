"""jsonschema's errors, restated for the person who wrote the flow, at the right node.

jsonschema reports where in the *data* a rule failed; the flow author needs a sentence about
their file. Each ``ValidationError`` becomes one or more ``SchemaComplaint`` values: a path
into the document, whether the position is the key or the value, and the message. The caller
turns paths into line:column with the ``MarkMap``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Sequence

from jsonschema import Draft7Validator, ValidationError

_TYPE_WORDS = {
    "string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
    "object": "a map", "array": "a list", "null": "empty",
}


@dataclass(frozen=True)
class SchemaComplaint:
    path: tuple
    at_key: bool
    message: str


def yaml_type(value: Any) -> str:
    """How a YAML author would call the type of a loaded value."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _field(path: Sequence) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _subject(where: str, path: Sequence) -> str:
    """``'max_digits' in collect``, or just ``collect`` for the step's own value."""
    field = _field(path)
    if not field:
        return where
    return f"'{field}' in {where}" if where != "the flow" else f"'{field}'"


def _did_you_mean(word: Any, choices: List[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _one_of(words: Iterable[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _explain(error: ValidationError, where: str) -> List[SchemaComplaint]:
    path = tuple(error.absolute_path)
    subject = _subject(where, path)
    schema, kind, instance = error.schema, error.validator, error.instance
    if "propertyNames" in error.relative_schema_path:
        message = schema.get("patternErrorMessage", "is not allowed here")
        return [SchemaComplaint(path + (instance,), True, f"'{instance}' in {_subject(where, path)} {message}")]
    if kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extras = [key for key in instance if key not in known and not any(re.search(p, str(key)) for p in patterns)]
        if where == "the flow":
            container = f"in '{_field(path)}'" if path else "at the top level of the flow"
        else:
            container = f"in {where}.{_field(path)}" if path else f"in {where}"
        hint = f"; known keys: {', '.join(known)}" if known else ""
        return [SchemaComplaint(path + (key,), True, f"unknown key '{key}' {container}{_did_you_mean(key, known)}{hint}")
                for key in extras]
    if kind == "required":
        missing = [key for key in error.validator_value if key not in instance]
        return [SchemaComplaint(path, False, f"{subject} is missing required key '{key}'") for key in missing]
    if kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [SchemaComplaint(path, False, f"{subject} must be {_one_of(_TYPE_WORDS[t] for t in expected)}, "
                                              f"not {yaml_type(instance)}")]
    if kind == "enum":
        return [SchemaComplaint(path, False, f"{subject} must be one of {', '.join(map(str, error.validator_value))}; "
                                              f"got {yaml_type(instance)}")]
    if kind == "pattern":
        reason = schema.get("patternErrorMessage", f"must match {error.validator_value}")
        return [SchemaComplaint(path, False, f"{subject} {reason}; got '{instance}'")]
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "more than",
                 "maximum": "at most", "exclusiveMaximum": "less than"}[kind]
        return [SchemaComplaint(path, False, f"{subject} must be {words} {error.validator_value}; got {instance}")]
    if kind in ("minProperties", "maxProperties"):
        names = list(schema.get("properties", {}))
        if schema.get("minProperties") == schema.get("maxProperties") == 1 and names:
            return [SchemaComplaint(path, False, f"{subject} needs exactly one of {', '.join(names)}")]
        if kind == "minProperties":
            return [SchemaComplaint(path, False, f"{subject} must not be empty")]
    if kind == "minItems":
        return [SchemaComplaint(path, False, f"{subject} must not be empty")]
    if kind == "uniqueItems":
        return [SchemaComplaint(path, False, f"{subject} lists the same value twice")]
    return [SchemaComplaint(path, False, f"{subject}: {error.message}")]


def schema_complaints(schema: dict, instance: Any, where: str) -> List[SchemaComplaint]:
    """Every way ``instance`` breaks ``schema``, in document order; ``where`` names the part
    being checked ('the flow' or a step kind) for the messages."""
    validator = Draft7Validator(schema)
    complaints: List[SchemaComplaint] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        complaints.extend(_explain(error, where))
    return complaints
