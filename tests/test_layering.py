"""FreeSWITCH command text lives in ``orchestrator/esl/`` and the simulator only.

Steps, the agent API, the catalog and the service call the engine's ``Channel`` and ``Switch``
verbs; none of them writes an application or API name into a string, nor reads the switch's
replies (``+OK``, ``-ERR``, ``_undef_``). The scan reads every string literal outside those two
packages (docstrings excepted: prose may name what a verb does underneath).
"""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "orchestrator"
ALLOWED = (PACKAGE / "esl", PACKAGE / "simulator")

# API commands and dialplan applications with names no ordinary word shares, the sendmsg
# framing, and the reply texts a caller of a command would have to parse.
COMMAND = re.compile(
    r"\buuid_[a-z_]+\b|\b(?:play_and_get_digits|record_session\w*|eavesdrop|intercept|"
    r"file_exists|originate|bgapi|sendmsg|execute-app-name|execute-app-arg|call-command|"
    r"event-lock|fsctl|start_dtmf|stop_dtmf)\b|^\+OK|^-ERR|^-USAGE|^_undef_$")


def docstring_nodes(tree):
    """The string constants that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                found.add(id(body[0].value))
    return found


def command_text(source, filename="<source>"):
    """(line, text) of each string literal in ``source`` holding FreeSWITCH command text."""
    tree = ast.parse(source, filename)
    docstrings = docstring_nodes(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings and COMMAND.search(node.value.strip()):
            hits.append((node.lineno, node.value))
    return hits


def outside_esl():
    for path in sorted(PACKAGE.rglob("*.py")):
        if not any(allowed in path.parents for allowed in ALLOWED):
            yield path


def test_the_scan_finds_command_text_and_reply_parsing():
    planted = '''
def restore(channel):
    """Docstrings may say uuid_audio and +OK."""
    reply = channel.api("uuid_audio %s stop" % channel.uuid)
    return reply.startswith("+OK")
'''
    assert sorted(text for _, text in command_text(planted)) == ["+OK", "uuid_audio %s stop"]
    assert command_text('step = {"play": "ivr/welcome.wav", "transfer": "1000"}') == []


@pytest.mark.parametrize("path", list(outside_esl()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_freeswitch_command_text_outside_esl_and_the_simulator(path):
    hits = command_text(path.read_text(encoding="utf-8"), str(path))
    assert hits == [], "%s holds FreeSWITCH command text: %s" % (
        path.relative_to(ROOT), ", ".join("line %d %r" % hit for hit in hits))


def test_steps_and_the_agent_api_reach_the_switch_only_through_verbs():
    """No module outside esl/ and the simulator calls a raw ``api``/``bgapi``/``command``."""
    offenders = []
    for path in outside_esl():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("api", "bgapi", "command", "execute", "send"):
                owner = ast.unparse(node.func.value)
                if re.search(r"channel|node|conn|switch", owner):
                    offenders.append("%s:%d %s" % (path.relative_to(ROOT), node.lineno,
                                                   ast.unparse(node.func)))
    assert offenders == []
