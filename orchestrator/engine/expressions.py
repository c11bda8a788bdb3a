"""``${...}`` interpolation and ``branch`` conditions, parsed once and evaluated safely.

Flow files are written by people, not trusted as code: conditions are parsed by a small
recursive-descent parser into a tree of comparisons, ``and``/``or``/``not`` and parentheses,
and evaluated over values looked up by name. Nothing is handed to ``eval``.

Variables resolve through a callback so the expression code does not know where values
live (flow variables, channel variables, step attempt counters: see ``context.py``).
Error messages name variables but never show their values, since a value may be something
the caller keyed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple, Union

Resolver = Callable[[str], str]

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


class ExpressionError(Exception):
    """An expression could not be evaluated at run time (e.g. an unknown variable)."""


class ExpressionSyntaxError(ValueError):
    """An expression is malformed; ``offset`` is the 0-based index in its text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


# --------------------------------------------------------------------------- templates

@dataclass(frozen=True)
class Template:
    """Text with ``${name}`` references; ``$${`` stands for a literal ``${``."""

    parts: Tuple[Tuple[bool, str], ...]  # (is_variable, literal text or variable name)

    @classmethod
    def parse(cls, text: str) -> "Template":
        parts: List[Tuple[bool, str]] = []
        literal: List[str] = []
        i = 0
        while i < len(text):
            if text.startswith("$${", i):
                literal.append("${")
                i += 3
            elif text.startswith("${", i):
                end = text.find("}", i + 2)
                if end < 0:
                    raise ExpressionSyntaxError(f"'${{' at {i + 1} is never closed with '}}'", i)
                name = text[i + 2:end].strip()
                if not VARIABLE_NAME.match(name):
                    raise ExpressionSyntaxError(f"'${{{name}}}' is not a variable name", i)
                if literal:
                    parts.append((False, "".join(literal)))
                    literal = []
                parts.append((True, name))
                i = end + 1
            else:
                literal.append(text[i])
                i += 1
        if literal:
            parts.append((False, "".join(literal)))
        return cls(tuple(parts))

    @property
    def variables(self) -> List[str]:
        return [value for is_variable, value in self.parts if is_variable]

    def render(self, resolve: Resolver) -> str:
        return "".join(resolve(value) if is_variable else value for is_variable, value in self.parts)


def render(value: Any, resolve: Resolver) -> str:
    """Interpolate a flow-file scalar: strings are templates, numbers and booleans are text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return Template.parse(value).render(resolve)
    return str(value)


# --------------------------------------------------------------------------- conditions

_TOKEN = re.compile(
    r"""(?:
        (?P<var>\$\{[^}]*\})
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>==|!=|<=|>=|<|>)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    offset: int


def _tokenize(text: str) -> List[_Token]:
    tokens, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        match = _TOKEN.match(text, i)
        if not match:
            raise ExpressionSyntaxError(f"unexpected {text[i]!r} at {i + 1}", i)
        kind = match.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        value = match.group(kind)
        offset = match.start(kind)
        if kind == "word" and value not in _KEYWORDS:
            raise ExpressionSyntaxError(
                f"bare word '{value}': write ${{{value}}} for a variable or '{value}' for text", offset)
        tokens.append(_Token(value if kind in ("op", "paren", "word") else kind, value, offset))
        i = match.end()
    return tokens


@dataclass(frozen=True)
class Literal:
    value: str


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Compare:
    op: str
    left: "Node"
    right: "Node"


Node = Union[Literal, Variable, Not, Logical, Compare]


class _Parser:
    """condition := or ; or := and ('or' and)* ; and := not ('and' not)* ;
    not := 'not' not | comparison ; comparison := operand (OP operand)? ;
    operand := NUMBER | STRING | ${name} | '(' condition ')'"""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionSyntaxError("the condition is empty", 0)
        node = self._or()
        if self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            raise ExpressionSyntaxError(f"unexpected '{token.text}' at {token.offset + 1}", token.offset)
        return node

    def _peek(self) -> Optional[_Token]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, kind: str) -> bool:
        token = self._peek()
        if token and token.kind == kind:
            self.pos += 1
            return True
        return False

    def _or(self) -> Node:
        node = self._and()
        while self._take("or"):
            node = Logical("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._take("and"):
            node = Logical("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._take("not"):
            return Not(self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._operand()
        token = self._peek()
        if token and token.kind in ("==", "!=", "<", "<=", ">", ">="):
            self.pos += 1
            return Compare(token.kind, left, self._operand())
        return left

    def _operand(self) -> Node:
        token = self._peek()
        if token is None:
            raise ExpressionSyntaxError("the condition ends where a value was expected", len(self.text))
        self.pos += 1
        if token.kind == "number":
            return Literal(token.text)
        if token.kind == "string":
            return Literal(token.text[1:-1])
        if token.kind == "var":
            name = token.text[2:-1].strip()
            if not VARIABLE_NAME.match(name):
                raise ExpressionSyntaxError(f"'{token.text}' is not a variable name", token.offset)
            return Variable(name)
        if token.kind == "(":
            node = self._or()
            if not self._take(")"):
                raise ExpressionSyntaxError(f"'(' at {token.offset + 1} is never closed", token.offset)
            return node
        raise ExpressionSyntaxError(f"expected a value at {token.offset + 1}, found '{token.text}'", token.offset)


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _truthy(value: Union[str, bool]) -> bool:
    if isinstance(value, bool):
        return value
    return value.strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Condition:
    """A parsed ``branch`` condition; numbers compare as numbers, other text as text."""

    source: str
    tree: Node

    @classmethod
    def parse(cls, text: str) -> "Condition":
        return cls(text, _Parser(text).parse())

    @property
    def variables(self) -> List[str]:
        found: List[str] = []

        def walk(node: Node) -> None:
            if isinstance(node, Variable):
                found.append(node.name)
            elif isinstance(node, Not):
                walk(node.operand)
            elif isinstance(node, (Logical, Compare)):
                walk(node.left)
                walk(node.right)

        walk(self.tree)
        return found

    def evaluate(self, resolve: Resolver) -> bool:
        return _truthy(self._eval(self.tree, resolve))

    def _eval(self, node: Node, resolve: Resolver) -> Union[str, bool]:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Variable):
            return resolve(node.name)
        if isinstance(node, Not):
            return not _truthy(self._eval(node.operand, resolve))
        if isinstance(node, Logical):
            left = _truthy(self._eval(node.left, resolve))
            if node.op == "and":
                return left and _truthy(self._eval(node.right, resolve))
            return left or _truthy(self._eval(node.right, resolve))
        return self._compare(node, resolve)

    def _compare(self, node: Compare, resolve: Resolver) -> bool:
        left, right = self._eval(node.left, resolve), self._eval(node.right, resolve)
        left_text = "true" if left is True else "false" if left is False else left
        right_text = "true" if right is True else "false" if right is False else right
        left_number, right_number = _number(left_text), _number(right_text)
        both_numbers = left_number is not None and right_number is not None
        if node.op in ("==", "!="):
            equal = left_number == right_number if both_numbers else left_text == right_text
            return equal if node.op == "==" else not equal
        if left_number is None or right_number is None:
            raise ExpressionError(f"condition '{self.source}': '{node.op}' needs two numbers")
        return {
            "<": left_number < right_number,
            "<=": left_number <= right_number,
            ">": left_number > right_number,
            ">=": left_number >= right_number,
        }[node.op]
