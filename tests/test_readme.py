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
