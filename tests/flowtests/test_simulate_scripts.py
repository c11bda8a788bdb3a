"""``orchestrator simulate`` as CI runs it: test scripts with ``expect:``, over the shipped
flows/tests/, as real processes; wrong expectations and malformed scripts named at
file:line:column; the JUnit and GitHub reports."""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.support.canary import CODE, EXPIRY, PAN, traces

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOW_TESTS = os.path.join(ROOT, "flows", "tests")
CARD_FLOW = os.path.join(ROOT, "flows", "card_payment.yaml")


def simulate(*args):
    return subprocess.run([sys.executable, "-m", "orchestrator", "simulate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def position_of(path, text, after="expect:"):
    """line:column (1-based) where ``text`` starts in the file at ``path``, past ``after``
    when the file holds it."""
    lines = open(path, encoding="utf-8").read().splitlines()
    start = next(((i, line.index(after)) for i, line in enumerate(lines) if after in line), (0, 0))
    for number in range(start[0], len(lines)):
        line = lines[number]
        found = line.find(text, start[1] if number == start[0] else 0)
        if found >= 0:
            return "%d:%d" % (number + 1, found + 1)
    raise AssertionError("%r not in %s" % (text, path))


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


APPROVED = """flow: %s
variables: {pay_amount: 1250, pay_currency: EUR, pay_reference: INV-9}
steps:
  - wait_prompt: 3
  - press: "4111111111111111#"
  - wait_prompt: 4
  - press: "1230"
  - wait_prompt: 5
  - press: "737"
""" % CARD_FLOW


def test_the_shipped_flow_tests_pass():
    result = simulate("flows/tests/")
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(n for n in os.listdir(FLOW_TESTS) if n.endswith(".yaml"))
    assert len(names) >= 4
    for name in names:   # every script ran and checked something
        assert re.search(r"flows/tests/%s: expectations met \(\d+\)" % re.escape(name), result.stdout)
    assert "%d scripts: %d passed, 0 failed, 0 could not run" % (len(names), len(names)) in result.stdout


def test_a_wrong_expectation_fails_naming_its_file_line_and_column(tmp_path):
    copy = tmp_path / "approved-but-expects-declined.yaml"
    text = open(os.path.join(FLOW_TESTS, "card-approved.yaml"), encoding="utf-8").read()
    text = text.replace("flow: ../card_payment.yaml", "flow: %s" % CARD_FLOW)
    assert "  outcome: approved " in text
    copy.write_text(text.replace("  outcome: approved ", "  outcome: declined ")
                    .replace("amount: 1250, currency", "amount: 999, currency"))
    result = simulate(str(copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "%s:%s: expect.outcome: expected declined, got approved" % (
        copy, position_of(copy, "outcome:")) in result.stdout
    assert "%s:%s: expect.charges.amount: expected 999, got 1250 (charges: 1250 EUR)" % (
        copy, position_of(copy, "amount: 999")) in result.stdout
    assert "1 script: 0 passed, 1 failed, 0 could not run" in result.stdout
    # the expectations the call met are not reported
    assert "expect.variables" not in result.stdout


def test_prompts_are_numbered_as_wait_prompt_counts_them_and_named_by_catalog_key(tmp_path):
    path = script(tmp_path, "numbered.yaml", APPROVED)
    result = simulate(path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    third = next(line for line in lines if "#3 switch" in line)
    assert "Please enter your card number" in third and "[card.number]" in third
    # the caller pressed the number once #3 had started: wait_prompt: 3 is the #3 shown
    number_at = float(third.split("s")[0])
    pressed = next(line for line in lines if "caller presses" in line)
    assert float(pressed.split("s")[0]) >= number_at
    numbers = [int(n) for n in re.findall(r"^\s*[\d.]+s  #(\d+) switch", result.stdout, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6


def test_prompt_expectations_in_order_exactly_and_not(tmp_path):
    ordered_wrong = script(tmp_path, "order.yaml", APPROVED + (
        "expect:\n  prompts: [card.expiry, card.number]\n"))
    result = simulate(ordered_wrong)
    assert result.returncode == 1
    assert "%s:%s: expect.prompts.in_order: expected [card.expiry, card.number] in this order, " \
           "got no card.number after card.expiry" % (ordered_wrong, position_of(ordered_wrong, "prompts")) \
        in result.stdout
    exact = script(tmp_path, "exact.yaml", APPROVED + (
        "expect:\n  prompts:\n    exactly: [amount_due, card.number, card.expiry, card.security_code,"
        " payment_processing, payment_approved, goodbye]\n    not: [payment_declined]\n"))
    assert simulate(exact).returncode == 0
    forbidden = script(tmp_path, "forbidden.yaml", APPROVED + (
        "expect:\n  prompts:\n    not: [payment_approved]\n"))
    result = simulate(forbidden)
    assert result.returncode == 1
    assert "%s:%s: expect.prompts.not: expected none of [payment_approved], got heard payment_approved" % (
        forbidden, position_of(forbidden, "not:")) in result.stdout


def test_an_unknown_expect_key_is_refused_before_the_call_naming_its_position(tmp_path):
    cases = [("  promtps: [card.number]\n", "promtps",
              "expect: unknown key 'promtps'; expected one of prompts, outcome, flow_result, "
              "variables, charges, payments"),
             ("  charges: {count: 1, total: 5}\n", "total",
              "expect.charges: unknown key 'total'; expected one of count, amount, currency"),
             ("  prompts: {sorted: [card.number]}\n", "sorted",
              "expect.prompts: unknown key 'sorted'; expected one of in_order, exactly, not"),
             ("  charges: {amount: 12.50}\n", "amount",
              "expect.charges.amount: expected a whole number of minor units (1250 for 12.50), got 12.5"),
             ("  flow_result: approved\n", "flow_result",
              "expect.flow_result: 'approved' is not one of completed, transferred, caller-hung-up, error, none")]
    for line, key, message in cases:
        path = script(tmp_path, "bad-%s.yaml" % key, APPROVED + "expect:\n" + line)
        result = simulate(path)
        assert result.returncode == 2, (line, result.stdout, result.stderr)
        assert "%s:%s: %s" % (path, position_of(path, key), message) in result.stderr, result.stderr
        assert "flow card_payment" not in result.stdout   # no call was placed


def test_malformed_scripts_are_named_at_their_line_and_column(tmp_path):
    broken_yaml = script(tmp_path, "broken.yaml", "steps:\n  - press: [1, 2\n")
    result = simulate(broken_yaml)
    assert result.returncode == 2
    assert re.search(re.escape(broken_yaml) + r":\d+:\d+: YAML syntax error", result.stderr)
    bad_step = script(tmp_path, "step.yaml", "flow: %s\nsteps:\n  - wait_prompt: 1\n  - press: xyz\n" % CARD_FLOW)
    result = simulate(bad_step)
    assert result.returncode == 2
    assert "%s:4:5: step 1 (press): expected a string of DTMF digits" % bad_step in result.stderr
    unknown = script(tmp_path, "unknown.yaml", "flow: %s\nstpes: []\n" % CARD_FLOW)
    result = simulate(unknown)
    assert result.returncode == 2
    assert "%s:2:1: caller script: unknown top-level key(s): stpes" % unknown in result.stderr
    twice = script(tmp_path, "twice.yaml", "flow: %s\nexpect: {outcome: approved}\nexpect: {}\n" % CARD_FLOW)
    result = simulate(twice)
    assert result.returncode == 2 and "%s:3:1: 'expect' is written twice" % twice in result.stderr
    no_flow = script(tmp_path, "noflow.yaml", "steps: []\n")
    result = simulate(no_flow)
    assert result.returncode == 2
    assert "%s:1:1: no flow: name one with 'flow: FILE'" % no_flow in result.stderr
    bad_variables = script(tmp_path, "vars.yaml", "flow: %s\nvariables: [a, b]\n" % CARD_FLOW)
    result = simulate(bad_variables)
    assert result.returncode == 2
    assert "%s:2:1: variables: expected a mapping of channel variables" % bad_variables in result.stderr
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    result = simulate(str(empty_folder))
    assert result.returncode == 2 and "no caller scripts (*.yaml) in this folder" in result.stderr


def test_junit_report_has_one_testcase_per_script_with_failures_and_errors(tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "a-passes.yaml").write_text(APPROVED + "expect: {outcome: approved, charges: 1}\n")
    (folder / "b-fails.yaml").write_text(APPROVED + "expect: {outcome: declined}\n")
    (folder / "c-broken.yaml").write_text(APPROVED + "expect: {outcome: approved, nope: 1}\n")
    report = tmp_path / "report.xml"
    result = simulate(str(folder), "--format", "junit", "--output", str(report))
    assert result.returncode == 2, result.stderr     # a script could not run: 2 beats 1
    assert "flow card_payment" in result.stdout      # the stories still go to stdout
    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert sorted(cases) == ["a-passes", "b-fails", "c-broken"]
    assert cases["a-passes"].find("failure") is None and cases["a-passes"].find("error") is None
    assert "caller presses" in cases["a-passes"].find("system-out").text
    failure = cases["b-fails"].find("failure")
    b = str(folder / "b-fails.yaml")
    assert failure.get("message") == "%s:%s: expect.outcome: expected declined, got approved" % (
        b, position_of(b, "outcome"))
    assert cases["b-fails"].get("file") == b
    c = str(folder / "c-broken.yaml")
    assert cases["c-broken"].find("error").get("message").startswith(
        "%s:%s: expect: unknown key 'nope'" % (c, position_of(c, "nope")))
    # to stdout without --output: only the XML
    alone = simulate(str(folder / "b-fails.yaml"), "--format", "junit")
    assert alone.returncode == 1
    root = ET.fromstring(alone.stdout)
    assert root.find("testsuite").get("failures") == "1"


def test_github_format_annotates_the_scripts_lines(tmp_path):
    path = script(tmp_path, "gh.yaml", APPROVED + "expect:\n  variables: {pay_last4: \"0000\"}\n")
    result = simulate(path, "--format", "github")
    assert result.returncode == 1
    line, column = position_of(path, "pay_last4").split(":")
    annotations = [l for l in result.stdout.splitlines() if l.startswith("::error ")]
    assert annotations == [
        "::error file=%s,line=%s,col=%s,title=simulate gh::expect.variables.pay_last4: "
        "expected '0000', got '1111'" % (path, line, column)]


def test_output_only_goes_with_junit_and_a_flow_goes_with_caller(tmp_path):
    result = simulate(os.path.join(FLOW_TESTS, "card-approved.yaml"), "--output", str(tmp_path / "x"))
    assert result.returncode == 2 and "--output goes with --format junit" in result.stderr
    result = simulate("flows/card_payment.yaml", "flows/welcome.yaml", "--caller", "examples/callers/agent.yaml")
    assert result.returncode == 2 and "with --caller, give exactly one flow file" in result.stderr
    result = simulate()
    assert result.returncode == 2


def test_an_old_caller_script_with_a_flow_on_the_command_line_still_runs_and_may_expect(tmp_path):
    plain = simulate("flows/welcome.yaml", "--caller", "examples/callers/agent.yaml")
    assert plain.returncode == 0 and "flow result: transferred" in plain.stdout
    assert "expectations met" not in plain.stdout and "script" not in plain.stdout.splitlines()[-1]
    shutil.copy(os.path.join(ROOT, "examples", "callers", "agent.yaml"), tmp_path / "agent.yaml")
    with open(tmp_path / "agent.yaml", "a", encoding="utf-8") as handle:
        handle.write("expect:\n  flow_result: transferred\n  prompts: [ivr/ivr-welcome_to_freeswitch.wav]\n")
    checked = simulate("flows/welcome.yaml", "--caller", str(tmp_path / "agent.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "agent.yaml: expectations met (2)" in checked.stdout


def test_no_report_holds_a_trace_of_the_card_the_caller_keyed(tmp_path):
    """The canary card keyed in full (the script itself holds it): the text, the JUnit XML and
    the annotations of a failing run hold no trace of it."""
    path = script(tmp_path, "canary.yaml", APPROVED + "expect: {outcome: declined, prompts: [nothing]}\n")
    assert PAN in APPROVED and EXPIRY in APPROVED and CODE in APPROVED
    outputs = {}
    for fmt in ("text", "junit", "github"):
        result = simulate(path, "--format", fmt)
        assert result.returncode == 1, result.stderr
        outputs[fmt] = result.stdout + result.stderr
    assert "<failure" in outputs["junit"] and "::error " in outputs["github"]
    for fmt, text in outputs.items():
        assert traces(text) == [], fmt


def test_artifacts_of_several_scripts_go_to_a_folder_each(tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "one.yaml").write_text(APPROVED + "expect: {charges: 1}\n")
    (folder / "two.yaml").write_text(APPROVED.replace("1250", "700") + "expect: {charges: {amount: 700}}\n")
    artifacts = tmp_path / "artifacts"
    result = simulate(str(folder), "--artifacts", str(artifacts))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(os.listdir(artifacts)) == ["one", "two"]
    for name, amount in (("one", 1250), ("two", 700)):
        store = sqlite3.connect(str(artifacts / name / "payments.sqlite"))
        try:
            assert store.execute("SELECT status, amount_minor FROM payments").fetchall() == [
                ("approved", amount)]
        finally:
            store.close()
        assert "wire.txt" in os.listdir(artifacts / name)


def test_a_call_ending_in_an_error_fails_unless_the_script_expects_it(tmp_path):
    # no pay_reference: card_payment cannot start, the flow ends in an error
    broken = APPROVED.replace(", pay_reference: INV-9", "")
    unexpected = script(tmp_path, "unexpected.yaml", broken)
    result = simulate(unexpected)
    assert result.returncode == 1
    assert "%s:1:1: the flow ended in an error (channel variable 'pay_reference' is not set on " \
           "this call)" % unexpected in result.stdout
    expected = script(tmp_path, "expected.yaml", broken + "expect: {flow_result: error, charges: 0}\n")
    assert simulate(expected).returncode == 0


def test_a_junit_report_that_cannot_be_written_is_a_usage_error(tmp_path):
    result = simulate(os.path.join(FLOW_TESTS, "card-cancelled.yaml"), "--format", "junit",
                      "--output", str(tmp_path / "no" / "such" / "report.xml"))
    assert result.returncode == 2 and "simulate: cannot write" in result.stderr
