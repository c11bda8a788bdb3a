"""YAML loading that remembers where every key and value came from.

PyYAML's constructed dicts and lists forget their source positions, yet every error a flow
author sees must point at a line and column. So the document is composed into PyYAML nodes
(which carry marks), and built into plain Python values by hand while recording, for each
JSON path (a tuple of keys and list indexes), the mark of the key and of the value. The rest
of the engine works on plain data and asks the ``MarkMap`` for positions.

Duplicate keys, which PyYAML silently resolves to the last one, are reported here because
the author almost certainly meant two different things.

Bounded, because a flow file may come from anyone who can write to the flows folder or hand a
file to ``validate``: a 485-byte alias bomb took 2 GiB, 100,000 nested brackets ended in a
``RecursionError`` out of PyYAML's composer, and a 27 MB file was not validated in a minute.
So the text is refused past ``MAX_FLOW_BYTES``, nesting past ``MAX_DEPTH`` (checked as the
composer descends, long before the interpreter's recursion limit), and the document past
``MAX_VALUES`` values, an alias counting as every value it stands for (so aliases and merge
keys still work, and a bomb stops at the alias that would expand it too far). Each is a
``YamlLimitError`` at the line and column where the bound was crossed. The bounds are
constants, not settings: ``validate`` and the service must give the same answer for a file.
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


def _mark_position(mark: Any) -> Position:
    return _position(mark) if mark is not None else Position(1, 1)


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


# A shipped flow is under 1.5 KB, about 100 values and 6 levels deep; these leave room for
# hundreds of times that, and stop before memory, time or the recursion limit run short
# (PyYAML's pure-Python parser, which keeps the marks, reads some 20,000 values a second).
MAX_FLOW_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 20_000


class YamlSyntaxError(Exception):
    """The text is not YAML; ``position`` says where the parser gave up."""

    def __init__(self, message: str, position: Position):
        super().__init__(message)
        self.message = message
        self.position = position


class YamlLimitError(YamlSyntaxError):
    """The text is YAML past one of the loader's bounds (size, depth, values)."""


class FlowYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``on:``, ``yes`` and ``no``
    stay text. Under YAML 1.1 rules a collect step's ``on:`` key would load as ``True``.

    Its composer counts as it goes: the depth of the node it is in, and the values composed,
    each alias as the values of its anchor (see the module docstring)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        self._expanded: Dict[str, int] = {}   # anchor -> values it stands for, once complete

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if anchor in self.anchors and anchor not in self._expanded:
                raise YamlSyntaxError(f"recursive YAML alias *{anchor} (inside the value it names)",
                                      _mark_position(event.start_mark))
            self._count(self._expanded.get(anchor, 1), event.start_mark, anchor)
            return super().compose_node(parent, index)
        nesting = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nesting:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels (a flow needs a "
                                     "handful); not read further", _mark_position(event.start_mark))
        before = self._values
        self._count(1, event.start_mark, None)
        node = super().compose_node(parent, index)
        if nesting:
            self._depth -= 1
        if event.anchor is not None:
            self._expanded[event.anchor] = self._values - before
        return node

    def _count(self, values: int, mark: Any, alias: Optional[str]) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            what = f"the alias *{alias} expands" if alias else "this value takes"
            raise YamlLimitError(f"{what} the document past {MAX_VALUES} values (aliases count "
                                 "as every value they stand for); not read further",
                                 _mark_position(mark))


FlowYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


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

    def __init__(self, loader: yaml.SafeLoader):
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


class ConfigYamlLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader as it is (YAML 1.1 booleans, no bounds): a service config has always
    been read by ``yaml.safe_load``, and is the operator's own file. ``load_marked`` with it
    gives the same values, plus where each was written."""


def load_marked(text: str, loader_class: Any = None) -> LoadedDocument:
    """Parse one YAML document, keeping positions; raise ``YamlSyntaxError`` on bad YAML
    (``YamlLimitError`` past a bound). ``loader_class``: ``ConfigYamlLoader`` for a service
    config; a flow's own bounded loader by default."""
    if loader_class is None:
        if len(text) > MAX_FLOW_BYTES:
            raise YamlLimitError(f"the flow is {len(text)} characters long, more than the "
                                 f"{MAX_FLOW_BYTES} bytes a flow may be; not read", Position(1, 1))
        loader_class = FlowYamlLoader
    loader = loader_class(text)
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
