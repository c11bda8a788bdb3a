"""Reading a test script: a caller script plus the call it is and what it expects.

```yaml
flow: ../card_payment.yaml       # the flow file, relative to this script (or given on the
                                 # command line: `simulate FLOW --caller SCRIPT`)
variables: {pay_amount: "1250", pay_currency: EUR}   # channel variables of the call
destination: "1000"              # the number called (default 1000)
caller_id: "+34600111222"        # the number the caller calls from (default the simulator's)
steps: [...]                     # what the caller does (orchestrator/simulator/caller.py)
expect: {...}                    # what must happen (orchestrator/flowtests/expect.py)
```
Every other key is the caller script's (``answer_after``, ``max_duration``, ``bridge``), so a
plain caller script is a test script that expects nothing. The file is read with the flow
loader's positions, so every mistake is reported at file:line:column.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from orchestrator.engine.loader import MarkMap, Position, YamlSyntaxError, load_marked
from orchestrator.simulator import CallerScript, ScriptError

from .expect import Expectations, parse_expectations

TEST_KEYS = ("flow", "variables", "destination", "caller_id", "expect")
MAX_SCRIPT_BYTES = 256 * 1024


class TestScriptError(Exception):
    """A script that cannot be run; ``str()`` is ``file:line:column: message``."""

    __test__ = False   # not a test class, whatever pytest thinks of the name

    def __init__(self, source: str, position: Position, message: str):
        super().__init__("%s:%d:%d: %s" % (source, position.line, position.column, message))
        self.source, self.position, self.message = source, position, message


@dataclass
class TestScript:
    __test__ = False

    source: str                         # the path as given, for messages
    caller: CallerScript
    flow: Optional[str] = None          # absolute path of the flow file, when the script names one
    variables: Dict[str, str] = field(default_factory=dict)
    destination: str = "1000"
    caller_id: Optional[str] = None
    expect: Expectations = field(default_factory=Expectations)
    marks: MarkMap = field(default_factory=MarkMap)

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.source))[0]


def load_script(path: str) -> TestScript:
    """Read the script at ``path``; ``TestScriptError`` names where it is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_SCRIPT_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise TestScriptError(path, Position(1, 1), "cannot read the script: %s" % exc)
    if len(text) > MAX_SCRIPT_BYTES:
        raise TestScriptError(path, Position(1, 1), "longer than %d bytes; not read" % MAX_SCRIPT_BYTES)
    return parse_script(text, path)


def parse_script(text: str, source: str) -> TestScript:
    try:
        document = load_marked(text)
    except YamlSyntaxError as exc:
        raise TestScriptError(source, exc.position, exc.message)
    marks = document.marks
    for duplicate in document.duplicate_keys:
        raise TestScriptError(source, duplicate.position, "%r is written twice (first at line %d)"
                              % (duplicate.path[-1], duplicate.first.line))
    data = document.data
    if isinstance(data, dict):
        caller_data = {k: v for k, v in data.items() if k not in TEST_KEYS}
    else:
        caller_data, data = data, {}
    try:
        caller = CallerScript.from_data(caller_data)
    except ScriptError as exc:
        raise TestScriptError(source, _where(marks, exc.path), str(exc))

    def fail(path: Tuple[Any, ...], message: str) -> None:
        raise TestScriptError(source, _where(marks, path), message)

    script = TestScript(source=source, caller=caller, marks=marks)
    if "flow" in data:
        if not isinstance(data["flow"], str) or not data["flow"].strip():
            fail(("flow",), "flow: expected the path of a flow file, got %r" % (data["flow"],))
        script.flow = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(source)),
                                                    data["flow"]))
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        fail(("variables",), "variables: expected a mapping of channel variables, got %r" % (variables,))
    for name, value in variables.items():
        if not isinstance(name, str) or isinstance(value, (dict, list)) or value is None:
            fail(("variables", name), "variables.%s: expected a plain value, got %r" % (name, value))
        script.variables[name] = str(value).lower() if isinstance(value, bool) else str(value)
    for key in ("destination", "caller_id"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value):
                fail((key,), "%s: expected a number such as \"1000\", got %r" % (key, value))
            setattr(script, key, str(value))
    script.expect = parse_expectations(data.get("expect"), fail)
    return script


def _where(marks: MarkMap, path: Tuple[Any, ...]) -> Position:
    return marks.key_position(path) if path else Position(1, 1)
