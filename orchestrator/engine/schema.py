"""The flow JSON Schema, assembled from the step registry.

One builder serves two readers. Editors get ``flows/flow.schema.json`` (draft-07, the dialect
YAML and JSON language servers support best) with titles, descriptions, defaults and
snippets for completion. ``validate`` uses the same pieces, but checks the document and each
step separately: a step is matched to its kind first, so errors name the right kind and key
instead of jsonschema's best guess among a dozen ``anyOf`` branches.

Regenerate the published file with::

    python -m orchestrator.engine.write_schema flows/flow.schema.json
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

from .ids import STEP_ID_SCHEMA, VARIABLE_NAME_PATTERN
from .step_api import StepKind, registered_kinds

DIALECT = "http://json-schema.org/draft-07/schema#"
# a catalog's name: en, es, ru, pt-BR, es_MX
LANGUAGE_CODE_PATTERN = "^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})?$"
LANGUAGE_PATTERN = "^([a-z]{2,3}([_-][A-Za-z0-9]{2,8})?|.*\\$\\{.+\\}.*)$"

TOP_LEVEL_PROPERTIES: Dict[str, Any] = {
    "flow": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "title": "Flow name",
             "patternErrorMessage": "may hold only letters, digits, _, . and -",
             "description": "Name the flow is selected by (channel variable pay_flow or the destination map)."},
    "language": {"type": "string", "default": "en", "title": "Language",
                 "pattern": LANGUAGE_PATTERN,
                 "patternErrorMessage": "must be a language code such as en, es or ru, or a ${...} expression",
                 "description": "The caller's language: prompts, say, the TTS voice and the catalog. A code "
                                "(en, es, ru: a catalog of that name), or a ${...} expression such as "
                                "${channel.pay_language}, resolved when the call starts. Steps may change it "
                                "by setting the variable `language` (choose_language, set)."},
    "default_language": {"type": "string", "pattern": LANGUAGE_CODE_PATTERN,
                         "patternErrorMessage": "must be a language code such as en, es or ru",
                         "title": "Default language",
                         "description": "Spoken when `language` resolves to a language with no catalog (with a "
                                        "WARNING) or to nothing (a variable not set). Default: `language` when "
                                        "it is a code, else en."},
    "description": {"type": "string", "description": "What the flow is for; free text."},
    "vars": {
        "type": "object", "title": "Flow variables",
        "description": "Initial flow variables, set in order when the flow starts. Values may use "
                       "${channel.<name>} (a channel variable) or earlier variables.",
        "propertyNames": {"pattern": VARIABLE_NAME_PATTERN, "patternErrorMessage": "is not a variable name"},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "steps": {"type": "array", "minItems": 1, "title": "Steps",
              "description": "What the flow does, in order. Each step is a map with one step kind and an optional id."},
}

ID_PROPERTY = {**STEP_ID_SCHEMA, "title": "Step id",
               "description": "Names the step so goto, branch and on: can continue at it, and ${attempts.<id>} can count it."}


def document_schema(step_items: Optional[dict] = None) -> dict:
    """Schema of the whole file; ``step_items`` is what each entry of ``steps`` must be."""
    properties = dict(TOP_LEVEL_PROPERTIES)
    if step_items is not None:
        properties["steps"] = {**properties["steps"], "items": step_items}
    return {"type": "object", "properties": properties, "required": ["flow", "steps"], "additionalProperties": False}


def step_value_schema(kind: Type[StepKind]) -> dict:
    """The schema a step's value is validated against, after ``normalize``."""
    return kind.schema


def published_value_schema(kind: Type[StepKind]) -> dict:
    """The step's value as an editor should see it, shorthand scalars and empty values included."""
    schema = dict(kind.schema)
    if schema.get("type") != "object":
        return schema
    types = ["object"]
    if kind.shorthand:
        shorthand_type = schema["properties"][kind.shorthand]["type"]
        types += shorthand_type if isinstance(shorthand_type, list) else [shorthand_type]
    if not schema.get("required"):
        types.append("null")
    schema["type"] = types if len(types) > 1 else "object"
    return schema


def published_step_schema(kind: Type[StepKind]) -> dict:
    return {
        "title": kind.title,
        "description": kind.description,
        "type": "object",
        "properties": {"id": ID_PROPERTY, kind.name: {"title": kind.title, "description": kind.description,
                                                      **published_value_schema(kind)}},
        "required": [kind.name],
        "additionalProperties": False,
    }


def build_schema() -> dict:
    """The complete published schema of a flow file."""
    kinds = registered_kinds()
    definitions = {f"step_{name}": published_step_schema(kind) for name, kind in kinds.items()}
    step_items = {
        "title": "Step",
        "description": "One of: " + ", ".join(kinds) + ".",
        "anyOf": [{"$ref": f"#/definitions/step_{name}"} for name in kinds],
        "defaultSnippets": [{"label": name, "description": kind.title, "body": {name: kind.example}}
                            for name, kind in kinds.items()],
    }
    return {
        "$schema": DIALECT,
        "title": "Pay-by-phone IVR flow",
        "description": "A call flow run by the orchestrator over FreeSWITCH's Event Socket.",
        **document_schema(step_items),
        "definitions": definitions,
    }


def render_schema() -> str:
    """The published schema as the text committed in flows/flow.schema.json."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"
