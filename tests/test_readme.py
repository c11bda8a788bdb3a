"""What the README shows must work as shown."""
import os
import re

from orchestrator.engine import validate_text
from orchestrator.simulator import CallerScript

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def yaml_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_quick_start_shows_the_two_commands_first():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    first_block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    assert [line.split()[0:2] for line in first_block.strip().splitlines()] == [
        ["make", "demo"], ["make", "test"]]


def test_flow_example_validates():
    flows = [b for b in yaml_blocks() if b.lstrip("# \n").find("flow:") >= 0 and "steps:" in b]
    assert flows
    for block in flows:
        assert validate_text(block, "README.md") == []


def test_caller_script_example_parses():
    scripts = [b for b in yaml_blocks() if "wait_prompt" in b]
    assert scripts
    for block in scripts:
        CallerScript.from_yaml(block)


def test_the_limits_example_is_a_config_that_loads_with_the_defaults_it_shows(tmp_path):
    import yaml

    from orchestrator.config import load_config

    [block] = [b for b in yaml_blocks() if "max_header_lines" in b]
    path = tmp_path / "limits.yaml"
    path.write_text(block)
    shown = yaml.safe_load(block)
    defaults = load_config(None, environ={})
    loaded = load_config(str(path), environ={})
    assert loaded["limits"]["esl"] == shown["limits"]["esl"] == defaults["limits"]["esl"]
    for key, value in shown["http"].items():
        assert loaded["http"][key] == defaults["http"][key] == value, key
    assert shown["max_calls"] == defaults["max_calls"]
