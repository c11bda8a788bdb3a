"""YAML loading that remembers where every key and value came from.

PyYAML's constructed dicts and lists forget their source positions, yet every error a flow
author sees must point at a line and column. So the document is composed into PyYAML nodes
(which carry marks), and built into plain Python values by hand while recording, for each
JSON path (a tuple of keys and list indexes), the mark of the key and of the value. The rest
of the engine works on plain data and asks the ``MarkMap`` for positions.

Duplicate keys, which PyYAML silently resolves to the last one, are reported here because
the author almost certainly meant two different things.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import yaml

Path = Tuple[Any, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the source text."""

    line: int
    column: int


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class NodeMarks:
    """Where a value starts, and where its key starts when it sits in a mapping."""

    value: Position
    key: Optional[Position] = None


class MarkMap:
    """Positions of every node of a loaded document, keyed by JSON path."""

    def __init__(self) -> None:
        self._marks: Dict[Path, NodeMarks] = {}

    def record(self, path: Path, marks: NodeMarks) -> None:
        self._marks[path] = marks

    def __contains__(self, path: Path) -> bool:
        return tuple(path) in self._marks

    def value_position(self, path: Path) -> Position:
        """Where the value at ``path`` starts, or its nearest recorded ancestor."""
        return self._nearest(path).value

    def key_position(self, path: Path) -> Position:
        """Where the key naming ``path`` starts; falls back to the value for list items."""
        marks = self._nearest(path)
        return marks.key or marks.value

    def _nearest(self, path: Path) -> NodeMarks:
        path = tuple(path)
        while path not in self._marks and path:
            path = path[:-1]
        return self._marks.get(path, NodeMarks(Position(1, 1)))


class FlowYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``on:``, ``yes`` and ``no``
    stay text. Under YAML 1.1 rules a collect step's ``on:`` key would load as ``True``."""


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class YamlSyntaxError(Exception):
    """The text is not YAML; ``position`` says where the parser gave up."""

    def __init__(self, message: str, position: Position):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping: where the repeat is, and where the first one was."""

    path: Path
    position: Position
    first: Position


@dataclass
class LoadedDocument:
    """Plain data plus the positions of its nodes and the duplicate keys met on the way."""

    data: Any
    marks: MarkMap
    duplicate_keys: List[DuplicateKey]


class _Builder:
    """Turns a composed node tree into plain values, recording marks as it goes."""

    def __init__(self, loader: FlowYamlLoader):
        self._loader = loader
        self.marks = MarkMap()
        self.duplicate_keys: List[DuplicateKey] = []
        self._active: set = set()

    def build(self, node: yaml.Node, path: Path, key_mark: Optional[Position] = None) -> Any:
        self.marks.record(path, NodeMarks(_position(node.start_mark), key_mark))
        if isinstance(node, yaml.MappingNode):
            return self._guarded(node, path, self._mapping)
        if isinstance(node, yaml.SequenceNode):
            return self._guarded(node, path, self._sequence)
        return self._loader.construct_object(node, deep=True)

    def _guarded(self, node, path, build):
        # An alias may point back at an enclosing node; plain data cannot hold that cycle.
        if id(node) in self._active:
            raise YamlSyntaxError("recursive YAML alias", _position(node.start_mark))
        self._active.add(id(node))
        try:
            return build(node, path)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict:
        self._loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict = {}
        first_seen: Dict[Any, Position] = {}
        for key_node, value_node in node.value:
            key = self._loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise YamlSyntaxError("a mapping key must be a plain value", _position(key_node.start_mark))
            key_mark = _position(key_node.start_mark)
            if key in first_seen:
                self.duplicate_keys.append(DuplicateKey(path + (key,), key_mark, first_seen[key]))
                continue  # keep the first; the duplicate is reported, not silently preferred
            first_seen[key] = key_mark
            result[key] = self.build(value_node, path + (key,), key_mark)
        return result

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list:
        return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]


def load_marked(text: str) -> LoadedDocument:
    """Parse one YAML document, keeping positions; raise ``YamlSyntaxError`` on bad YAML."""
    loader = FlowYamlLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = exc.problem or exc.context or "invalid YAML"
            if exc.context and exc.problem:
                message = f"{exc.problem} ({exc.context})"
            if "flow" in (exc.context or "") and "${" in text:
                message += "; inside {...} or [...], quote values that use ${...}, e.g. \"${amount}\""
            raise YamlSyntaxError(f"YAML syntax error: {message}", _position(mark) if mark else Position(1, 1))
        except yaml.YAMLError as exc:
            raise YamlSyntaxError(f"YAML syntax error: {exc}", Position(1, 1))
        builder = _Builder(loader)
        if node is None:
            return LoadedDocument(None, builder.marks, [])
        try:
            data = builder.build(node, ())
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag met while constructing
            mark = exc.problem_mark or exc.context_mark
            raise YamlSyntaxError(f"YAML error: {exc.problem or exc.context}", _position(mark) if mark else Position(1, 1))
        return LoadedDocument(data, builder.marks, builder.duplicate_keys)
    finally:
        loader.dispose()
