"""Write or check the step reference in ``flows/README.md``, rendered from the step registry.

    python -m orchestrator.engine.write_step_docs flows/README.md          # regenerate
    python -m orchestrator.engine.write_step_docs --check flows/README.md  # CI: is it current?

The reference is what the schema already says (titles, descriptions, keys, types, defaults,
shorthands, examples), so it is generated rather than written: a kind added or changed in
``orchestrator/engine/steps/`` cannot be missing from it. Only the part of the file between
``BEGIN`` and ``END`` is replaced; the prose around it is written by hand.
"""
import argparse
import json
import re
import sys
from typing import Any, Dict, List, Optional, Tuple, Type

from .ids import STEP_ID_PATTERN
from .step_api import StepKind, registered_kinds

COMMAND = "python -m orchestrator.engine.write_step_docs flows/README.md"
BEGIN = "<!-- steps:begin: generated from the step registry by `%s`; edit the step kinds, not this section -->" % COMMAND
END = "<!-- steps:end -->"

_TYPE_WORDS = {"string": "text", "integer": "integer", "number": "number", "boolean": "true/false",
               "object": "map", "array": "list", "null": "nothing"}
# A string YAML reads back as the same string in a flow collection ({...} or [...]), unquoted.
_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./ -]*$")
_YAML_WORDS = {"true", "false", "null", "~"}
# Plain text under YAML 1.2 (the flow loader's), booleans to YAML 1.1 tools: quoted as values,
# so an example means the same wherever it is pasted; ``on:`` stays a bare key, as flows write it.
_YAML_11_WORDS = {"yes", "no", "on", "off", "y", "n"}


class SectionMissing(Exception):
    """The file has no BEGIN ... END markers to put the reference between."""


# ---- values as a flow file writes them ------------------------------------------------------

def yaml_value(value: Any, key: bool = False) -> str:
    """``value`` in YAML flow style, quoted only where YAML would read it otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[%s]" % ", ".join(yaml_value(item) for item in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (yaml_value(k, key=True), yaml_value(v))
                                  for k, v in value.items())
    text = str(value)
    reserved = _YAML_WORDS if key else _YAML_WORDS | _YAML_11_WORDS
    if _PLAIN.match(text) and text.lower() not in reserved and not text.endswith(" "):
        return text
    return json.dumps(text)


# ---- schema fragments in words --------------------------------------------------------------

def _range(schema: Dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return ", %s to %s" % (low, high)
    if low is not None:
        return ", at least %s" % low
    if schema.get("exclusiveMinimum") is not None:
        return ", above %s" % schema["exclusiveMinimum"]
    if high is not None:
        return ", at most %s" % high
    return ""


def describe_type(schema: Dict[str, Any]) -> str:
    """What a value of this schema is, in a few words: ``integer, 1 to 10``, ``step id``..."""
    if "enum" in schema:
        values = ", ".join("`%s`" % yaml_value(v) for v in schema["enum"])
        return ("only " if len(schema["enum"]) == 1 else "one of ") + values
    if schema.get("pattern") == STEP_ID_PATTERN:
        return "step id"
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    if types == ["array"]:
        items = schema.get("items")
        if not items:
            return "list"
        if "enum" in items:
            return "list of " + ", ".join("`%s`" % yaml_value(v) for v in items["enum"])
        if items.get("type") == "object" and items.get("properties"):
            return "list of maps"
        return "list of " + describe_type(items)
    if types == ["object"] and schema.get("properties"):
        return "map of " + ", ".join("`%s`" % key for key in schema["properties"])
    words: List[str] = [_TYPE_WORDS.get(str(t), str(t)) for t in types]
    if not words:
        return "any"
    text = words[0] if len(words) == 1 else "%s or %s" % (", ".join(words[:-1]), words[-1])
    return text + _range(schema)


def _flattened(schema: Dict[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """A map of plain values (``on:``), or a list of such maps (``prompts:``), shows one row per
    inner key: (how the inner key is written after the outer one, the inner properties)."""
    if schema.get("type") == "object" and schema.get("properties"):
        inner = schema["properties"]
        if all(p.get("type") not in ("object", "array") for p in inner.values()):
            return ".", inner
    items = schema.get("items") or {}
    if schema.get("type") == "array" and items.get("type") == "object" and items.get("properties"):
        return "[].", items["properties"]
    return None


def _default(schema: Dict[str, Any]) -> str:
    if "default" not in schema or schema["default"] in ({}, []):
        return ""  # an empty map or list is "none", which the description says better
    return "`%s`" % yaml_value(schema["default"])


def _row(*cells: str) -> str:
    return "| %s |" % " | ".join(cell.replace("|", "\\|").replace("\n", " ").strip() for cell in cells)


def _rows(properties: Dict[str, Any], required: List[str], prefix: str = "") -> List[str]:
    rows = []
    for key, schema in properties.items():
        name = "`%s%s`" % (prefix, key) + (" (required)" if key in required else "")
        rows.append(_row(name, describe_type(schema), _default(schema), schema.get("description", "")))
        flat = _flattened(schema)
        if flat:
            joiner, inner = flat
            inner_required = (schema.get("items") or {}).get("required", [])
            rows += _rows(inner, inner_required, prefix + key + joiner)
    return rows


def _keys(kind: Type[StepKind]) -> List[str]:
    schema = kind.schema
    if schema.get("type") != "object":
        return [("The value: %s. %s" % (describe_type(schema), schema.get("description", ""))).rstrip()]
    rows = _rows(schema.get("properties", {}), schema.get("required", []))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        rows.append(_row("`<variable>`", describe_type(extra), "", extra.get("description", "")))
    if not rows:
        return ["No keys."]
    return [_row("key", "type", "default", "what it is"), "|---|---|---|---|"] + rows


def _shorthand(kind: Type[StepKind]) -> str:
    example = kind.example if isinstance(kind.example, dict) else {}
    if kind.shorthand not in example:
        return "Shorthand: a plain value instead of the map is its `%s`." % kind.shorthand
    value = example[kind.shorthand]
    return "Shorthand: `- %s: %s` is `- %s: %s`." % (
        kind.name, yaml_value(value), kind.name, yaml_value({kind.shorthand: value}))


def render_kind(kind: Type[StepKind]) -> str:
    lines = ["### `%s`: %s" % (kind.name, kind.title), "", kind.description, ""]
    lines += _keys(kind)
    if kind.shorthand:
        lines += ["", _shorthand(kind)]
    lines += ["", "```yaml", "- %s: %s" % (kind.name, yaml_value(kind.example)), "```"]
    return "\n".join(lines)


def render_step_reference() -> str:
    """The generated section, markers included, ending with a newline."""
    kinds = registered_kinds()
    index = [_row("kind", "what it does"), "|---|---|"] + [
        _row("`%s`" % name, kind.title) for name, kind in kinds.items()]
    parts = [BEGIN, "\n".join(index)] + [render_kind(kind) for kind in kinds.values()] + [END]
    return "\n\n".join(parts) + "\n"


# ---- the marked section of a file -------------------------------------------------------------

def replace_section(text: str, section: str) -> str:
    """``text`` with everything from the BEGIN line to the END line replaced by ``section``."""
    start = text.find("<!-- steps:begin")
    end = text.find(END, start)
    if start < 0 or end < 0:
        raise SectionMissing("no <!-- steps:begin ... --> ... %s section" % END)
    end += len(END)
    if text[end:end + 1] == "\n":
        end += 1
    return text[:start] + section + text[end:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.engine.write_step_docs",
                                     description="Write (or check) the step reference in a Markdown file.")
    parser.add_argument("path", help="the Markdown file with the <!-- steps:begin/end --> markers")
    parser.add_argument("--check", action="store_true", help="exit 1 if the section differs from the registry")
    args = parser.parse_args(argv)
    with open(args.path, encoding="utf-8") as handle:
        current = handle.read()
    try:
        updated = replace_section(current, render_step_reference())
    except SectionMissing as exc:
        print("%s: %s" % (args.path, exc), file=sys.stderr)
        return 2
    if args.check:
        if updated != current:
            print("%s: the step reference is stale; regenerate it with: python -m "
                  "orchestrator.engine.write_step_docs %s" % (args.path, args.path))
            return 1
        return 0
    if updated != current:
        with open(args.path, "w", encoding="utf-8") as handle:
            handle.write(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
