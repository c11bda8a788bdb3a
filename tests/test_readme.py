"""What the README shows must work as shown."""
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys

import pytest
import requests

from orchestrator.engine import validate_text
from orchestrator.flowtests.script import parse_script
from orchestrator.simulator import CallerScript
from tests.support.waiting import eventually

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
    flows = [b for b in yaml_blocks() if b.lstrip("# \n").find("flow:") >= 0 and "steps:" in b
             and "wait_prompt" not in b]   # a caller script naming its flow is no flow
    assert flows
    for block in flows:
        assert validate_text(block, "README.md") == []


def test_caller_script_example_parses():
    scripts = [b for b in yaml_blocks() if "wait_prompt" in b]
    assert scripts
    for block in scripts:
        if "expect:" in block or "flow:" in block:   # a test script ("Testing flows in CI")
            parse_script(block, os.path.join(ROOT, "flows", "tests", "README.yaml"))
        else:
            CallerScript.from_yaml(block)


def test_the_test_script_shown_is_the_one_shipped_and_run():
    [shown] = [b for b in yaml_blocks() if b.startswith("# flows/tests/card-approved.yaml\n")]
    with open(os.path.join(ROOT, "flows", "tests", "card-approved.yaml"), encoding="utf-8") as handle:
        assert handle.read() == shown


# -- "Running against a real switch", command by command, in a fresh clone ---------------------

def fresh_clone(target):
    """The files a clone of this checkout would have, as they are in the working tree: tracked
    ones and new ones not ignored (what a commit of the tree would hold), nothing ignored (no
    .venv, no store, no local config)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: %s" % listed.stderr.strip())
    names = [name for name in listed.stdout.split("\0") if name]
    for name in names:
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):           # a tracked file deleted in the tree is not cloned
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    return set(names)


def readme_section_commands(title):
    """The commands of the first ``sh`` block under ``## title``, comments dropped."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("\n## %s\n" % title, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split(" #", 1)[0].strip() for line in block.strip().splitlines()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_command(line):
    """``.venv/bin/orchestrator ARGS`` as this suite's interpreter runs it, from the clone."""
    assert line.startswith(".venv/bin/orchestrator "), line
    return [sys.executable, "-m", "orchestrator"] + shlex.split(line)[1:]


def ready(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_fresh_clone_holds_no_payment_store():
    """Payment records belong to a site: no SQLite file is tracked, whatever its name."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: %s" % listed.stderr.strip())
    stores = []
    for name in filter(None, listed.stdout.split("\0")):
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if handle.read(16) == b"SQLite format 3\0":
                    stores.append(name)
    assert stores == []


def test_running_against_a_real_switch_works_as_written_from_a_fresh_clone(tmp_path, switch):
    """Each command of the section, from a fresh clone: the example config copied to the root,
    the password exported, ``run``. The simulated switch stands for FreeSWITCH (the node the
    example names, and the calls); ``orchestrator sandbox``, as the README says, for the
    acquirer. Ports are free ones, given as the README's ``ORCHESTRATOR__...`` overrides; the
    paths are the example's own, so the flows and the store resolve from the copy's folder.
    A card payment is then recorded in the copy, where git ignores it."""
    clone = str(tmp_path / "clone")
    cloned = fresh_clone(clone)
    commands = readme_section_commands("Running against a real switch")
    assert [c.split()[0] for c in commands] == ["cp", "export", ".venv/bin/orchestrator"], commands
    copy, export, run = commands
    subprocess.run(copy, shell=True, cwd=clone, check=True, timeout=30)
    name, _, _ = export[len("export "):].partition("=")
    ports = {"listen": free_port(), "http": free_port(), "sandbox": free_port()}
    env = dict(os.environ, **{
        name: switch.password,
        "ORCHESTRATOR__LISTEN__PORT": str(ports["listen"]),
        "ORCHESTRATOR__HTTP__PORT": str(ports["http"]),
        "ORCHESTRATOR__NODES__0__PORT": str(switch.inbound_address[1]),
        "ORCHESTRATOR__GATEWAYS__0__URL": "http://127.0.0.1:%d" % ports["sandbox"]})
    processes = []
    try:
        sandbox_line = ".venv/bin/orchestrator sandbox --port %d" % ports["sandbox"]
        processes.append(subprocess.Popen(service_command(sandbox_line), cwd=clone, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        service = subprocess.Popen(service_command(run), cwd=clone, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        processes.append(service)
        http = "http://127.0.0.1:%d" % ports["http"]
        eventually(lambda: service.poll() is not None or ready(http + "/readyz"), timeout=30,
                   what="the service ready")
        assert service.poll() is None, service.stdout.read()
        assert eventually(lambda: ready("http://127.0.0.1:%d/v1/charges" % ports["sandbox"]),
                          timeout=30, what="the sandbox gateway")
        address = ("127.0.0.1", ports["listen"])
        menu = switch.place_call(address, destination="7000", caller=CallerScript.from_data(
            [{"wait_prompt": 2}, {"press": "2"}])).wait(timeout=30)
        assert menu.transferred_to == "1000 XML default"     # by_destination 7000: welcome
        paid = switch.place_call(address, caller=CallerScript.from_yaml(
            os.path.join(clone, "examples", "callers", "pay-approved.yaml")), variables={
                "pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
                "pay_reference": "INV-README-1"}).wait(timeout=60)
        assert paid.variables.get("pay_result") == "approved", paid.errors
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
        log = service.stdout.read()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert "does not define" not in log          # the example's gateway is the flow's
    store = os.path.join(clone, "payments.sqlite")   # store.path, beside the copied config
    db = sqlite3.connect(store)
    try:
        rows = db.execute("SELECT status, card, amount_minor FROM payments").fetchall()
    finally:
        db.close()
    assert rows == [("approved", "411111******1111", 1250)]
    # what the steps made in the clone (the config, the store and its journal) git ignores
    made = sorted(os.path.relpath(os.path.join(d, f), clone) for d, _, files in os.walk(clone)
                  for f in files if os.path.relpath(os.path.join(d, f), clone) not in cloned
                  and "__pycache__" not in d)
    assert "orchestrator.yaml" in made and "payments.sqlite" in made, made
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--"] + made, cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert sorted(ignored.stdout.split()) == made


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


def test_the_tenants_example_starts_and_refuses_as_the_section_says(tmp_path):
    """The "Running several tenants" config, with the folders it names and its secrets set,
    starts a service; acme's flow naming globex's gateway is refused with the line shown."""
    import base64

    from orchestrator.config import ConfigError, load_config
    from orchestrator.service import Service

    [block] = [b for b in yaml_blocks() if "acme_redsys" in b]
    section = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split(
        "\n### Running several tenants\n", 1)[1].split("\n## ", 1)[0]
    [shown] = [line for line in section.splitlines() if line.startswith("orchestrator.yaml: ")]
    shutil.copytree(os.path.join(ROOT, "flows"), str(tmp_path / "flows"))
    catalog = tmp_path / "tenants" / "acme" / "catalog"
    shutil.copytree(os.path.join(ROOT, "orchestrator", "catalog"), str(catalog),
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    pay = open(os.path.join(ROOT, "flows", "card_payment.yaml"), encoding="utf-8").read()
    for tenant, name, gateway in (("acme", "acme_pay", "acme_redsys"),
                                  ("globex", "globex_pay", "sandbox")):
        folder = tmp_path / "tenants" / tenant / "flows"
        folder.mkdir(parents=True)
        (folder / ("%s.yaml" % name)).write_text(
            pay.replace("flow: card_payment", "flow: " + name).replace(
                "gateway: sandbox", "gateway: " + gateway))
    path = tmp_path / "orchestrator.yaml"
    path.write_text(block)
    environ = {"ACME_REDSYS_KEY": base64.b64encode(b"k" * 24).decode(),
               "ACME_TOKEN": "acme-token-0123456789", "ACME_HOOK_SECRET": "acme-hook-secret-0123",
               "ACME_LINK_SECRET": "acme-link-secret-0123",
               "ORCHESTRATOR__HTTP__PORT": "0", "ORCHESTRATOR__LISTEN__PORT": "0",
               "ORCHESTRATOR__STORE__PATH": str(tmp_path / "payments.sqlite")}
    service = Service(load_config(str(path), environ=environ))
    assert service.tenancy.plan("acme").flows == {"acme_pay", "welcome"}
    assert service.tenancy.plan("globex").gateways == {"sandbox"}
    assert service.tenancy.plan("acme").sms_providers == {"acme_sms"}
    assert service.tenancy.plan("acme").payment_links == {"acme_link"}
    assert service.tenancy.link_tenants("acme_link") == {"acme"}
    service.stop(grace=0)
    acme_pay = tmp_path / "tenants" / "acme" / "flows" / "acme_pay.yaml"
    acme_pay.write_text(acme_pay.read_text().replace("gateway: acme_redsys", "gateway: sandbox"))
    with pytest.raises(ConfigError) as refused:
        Service(load_config(str(path), environ=environ))
    where = re.compile(r"\(\S+\.yaml:\d+\)")
    assert [where.sub("(FILE:LINE)", line) for line in str(refused.value).splitlines()] == [
        where.sub("(FILE:LINE)", shown.replace("orchestrator.yaml", str(path), 1))]
    assert str(acme_pay) in str(refused.value)
