"""Each kind of mistake is reported once, at the exact line:column of the offending node."""
import textwrap

from orchestrator.engine import validate_file, validate_paths
from orchestrator.engine.validate import check_text

KNOWN = "agent_charge, announce, answer, authorize, branch, call_service, choose_from_list, choose_language, collect, collect_card, confirm_payment, goto, hangup, play, say, send_payment_link, send_sms, set, speak, survey, transfer, transfer_back"


def test_a_valid_flow_has_no_problems(problems):
    assert problems("""
        flow: ok
        vars: {who: "${channel.caller}"}
        steps:
          - answer:
          - speak: "hello ${who}"
          - hangup: {}
    """) == []


def test_yaml_syntax_error(problems):
    assert problems("""
        flow: broken
        steps:
          - play: "unterminated
    """) == ["4:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)"]


def test_unknown_step_kind(problems):
    assert problems("""
        flow: x
        steps:
          - answer: {}
          - plya: ivr/ivr-welcome.wav
    """) == [f"4:5: unknown step 'plya' (did you mean 'play'?); known steps: {KNOWN}"]


def test_unknown_key_in_a_step(problems):
    assert problems("""
        flow: x
        steps:
          - transfer:
              extension: 1000
              contxt: default
    """) == ["5:7: unknown key 'contxt' in transfer (did you mean 'context'?); known keys: extension, dialplan, context"]


def test_unknown_top_level_key(problems):
    assert problems("""
        flow: x
        langage: es
        steps: [{answer: {}}]
    """) == ["2:1: unknown key 'langage' at the top level of the flow (did you mean 'language'?); known keys: flow, language, default_language, description, vars, steps"]


def test_key_beside_the_step_kind_hints_at_indentation(problems):
    assert problems("""
        flow: x
        steps:
          - play: a.wav
            timeout: 3
    """) == ["4:5: unknown key 'timeout' beside step 'play'; a step holds one step kind and an optional id "
             "(should 'timeout' be indented under 'play'?)"]


def test_two_kinds_in_one_step(problems):
    assert problems("""
        flow: x
        steps:
          - play: a.wav
            speak: hi
    """) == ["4:5: a step holds one step kind; found 'play' and 'speak' (start a new step with '- ')"]


def test_missing_required_key(problems):
    assert problems("""
        flow: x
        steps:
          - collect:
              max_digits: 4
    """) == ["4:7: collect is missing required key 'into'"]


def test_missing_required_top_level_key(problems):
    assert problems("""
        flow: x
    """) == ["1:1: the flow is missing required key 'steps'"]


def test_wrong_type(problems):
    assert problems("""
        flow: x
        steps:
          - collect:
              into: pin
              max_digits: four
    """) == ["5:19: 'max_digits' in collect must be a whole number, not the text 'four'"]


def test_wrong_type_of_a_whole_step_value(problems):
    assert problems("""
        flow: x
        steps:
          - goto: {id: menu}
    """) == ["3:11: goto must be text, not a map"]


def test_enum_and_pattern_and_range(problems):
    assert problems("""
        flow: x
        steps:
          - say: {value: 12, kind: nmber}
          - hangup: normal
          - collect: {into: pin, max_attempts: 0}
    """) == [
        "3:28: 'kind' in say must be one of number, currency, digits, date; got the text 'nmber'",
        "4:13: 'cause' in hangup must be a FreeSWITCH hangup cause such as NORMAL_CLEARING; got 'normal'",
        "5:40: 'max_attempts' in collect must be at least 1; got 0",
    ]


def test_goto_target_naming_a_missing_id(problems):
    assert problems("""
        flow: x
        steps:
          - id: menu
            answer: {}
          - goto: menu2
    """) == ["5:11: goto target 'menu2' is not a step id (did you mean 'menu'?)"]


def test_branch_and_on_targets(problems):
    assert problems("""
        flow: x
        steps:
          - id: menu
            collect:
              into: choice
              on: {timeout: bye}
          - branch: {if: "${choice} == 1", then: menu, else: elsewhere}
          - id: end
            hangup:
    """) == [
        "6:21: collect on.timeout target 'bye' is not a step id; step ids: end, menu",
        "7:54: branch else target 'elsewhere' is not a step id; step ids: end, menu",
    ]


def test_duplicate_id(problems):
    assert problems("""
        flow: x
        steps:
          - id: again
            answer: {}
          - id: again
            hangup: {}
    """) == ["5:9: duplicate id 'again'; first used at line 3"]


def test_unreachable_step_after_goto(problems):
    assert problems("""
        flow: x
        steps:
          - id: top
            answer: {}
          - goto: top
          - play: never.wav
          - hangup: {}
    """) == ["6:5: unreachable step 'play': the goto step before it never continues to the next one, "
             "and it has no id to jump to"]


def test_unreachable_step_with_an_id_nothing_reaches(problems):
    assert problems("""
        flow: x
        steps:
          - transfer: 1000
          - id: orphan
            hangup: {}
    """) == ["4:5: unreachable step 'orphan': nothing that runs jumps to 'orphan', and the transfer step "
             "before it never continues to the next one"]


def test_step_reached_by_a_jump_is_not_unreachable(problems):
    assert problems("""
        flow: x
        steps:
          - branch: {if: "1 == 1", then: end}
          - hangup: {}
          - id: end
            transfer: 1000
    """) == []


def test_duplicate_key(problems):
    assert problems("""
        flow: x
        steps:
          - say:
              value: 1
              value: 2
    """) == ["5:7: duplicate key 'value' (first written at line 4); only the first is used"]


def test_unknown_variable_and_bad_condition(problems):
    assert problems("""
        flow: x
        vars: {greeting: hello}
        steps:
          - speak: "${greting}"
          - branch: {if: "${attempts.nope} > 2 and", then: end}
          - id: end
            hangup:
    """) == [
        "4:12: unknown variable 'greting' (did you mean 'greeting'?); flow variables come from vars:, set: and collect into:",
        "5:18: bad condition '${attempts.nope} > 2 and': the condition ends where a value was expected",
    ]


def test_attempts_of_an_unknown_step(problems):
    assert problems("""
        flow: x
        steps:
          - id: menu
            answer: {}
          - branch: {if: "${attempts.mnu} < 3", then: menu}
    """) == ["5:18: '${attempts.mnu}': 'mnu' is not a step id (did you mean 'menu'?)"]


def test_step_specific_checks(problems):
    assert problems("""
        flow: x
        steps:
          - collect: {into: pin, min_digits: 4, max_digits: 2, valid: "[0-9"}
          - play: {file: a.wav, silence_stream: 100}
          - say: {value: 5, currency: EUR}
    """) == [
        "3:38: collect: min_digits (4) is more than max_digits (2)",
        "3:63: collect: 'valid' is not a regular expression: unterminated character set at position 0",
        "4:11: play needs exactly one of file, tone_stream, silence_stream",
        "5:31: say: 'currency' only applies with kind: currency",
    ]


def test_a_step_that_is_not_a_map(problems):
    assert problems("""
        flow: x
        steps:
          - answer
    """) == ["3:5: a step is a map with one step kind, e.g. '- answer: {}'; got the text 'answer'"]


def test_not_a_map_at_all(problems):
    assert problems("- just a list\n") == ["1:1: a flow file is a map with flow:, steps: and friends, not a list"]


def test_reserved_variable_names_in_vars(problems):
    assert problems("""
        flow: x
        vars:
          channel.foo: 1
        steps: [{answer: }]
    """) == ["3:3: 'channel.foo' in vars: channel.* and attempts.* are read-only namespaces; "
             "use set: to write a channel variable"]


def test_validate_paths_prints_ok_and_problems(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("flow: good\nsteps:\n  - answer: {}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nsteps:\n  - goto: nowhere\n")
    code, lines = validate_paths([str(good), str(bad)])
    assert code == 1
    assert lines == [f"{good}: OK", f"{bad}:3:11: goto target 'nowhere' is not a step id"]
    assert validate_paths([str(good)]) == (0, [f"{good}: OK"])


def test_validate_paths_expands_directories_and_reports_missing_files(tmp_path):
    (tmp_path / "a.yaml").write_text("flow: a\nsteps: [{answer: }]\n")
    missing = tmp_path / "missing.yaml"
    code, lines = validate_paths([str(tmp_path), str(missing)])
    assert code == 1
    assert lines == [f"{tmp_path / 'a.yaml'}: OK", f"{missing}:1:1: cannot read the file: No such file or directory"]


def test_validate_file_returns_problems(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("flow: f\nsteps: []\n")
    [problem] = validate_file(str(path))
    assert str(problem) == f"{path}:2:8: 'steps' must not be empty"


def test_one_typo_gives_one_message_not_a_cascade(problems):
    assert problems("""
        flow: x
        steps:
          - collect: {into: choice, max_digit: 1}
          - speak: "${choice}"
    """) == ["3:29: unknown key 'max_digit' in collect (did you mean 'max_digits'?); known keys: into, prompt, min_digits, max_digits, "
             "terminators, cancel_key, first_digit_timeout, inter_digit_timeout, barge_in, valid, choices, "
             "invalid_prompt, retry_prompt, max_attempts, on"]


# -- hostile files: each fails with one file:line:column problem, without reading it all --------
def bomb_text():
    lines = ['flow: bomb', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append("%s: &%s [%s]" % (name, name, ",".join(["*" + prev] * 9)))
    return "\n".join(lines + ["steps: [answer: {}]"]) + "\n"


def test_hostile_flow_files_are_one_problem_each_at_their_position(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(bomb_text())
    deep = tmp_path / "deep.yaml"
    deep.write_text("flow: deep\nsteps: " + "[" * 100000 + "]" * 100000 + "\n")
    big = tmp_path / "big.yaml"
    with open(big, "w") as handle:                 # 27 MB of steps, each one valid
        handle.write("flow: big\nsteps:\n")
        handle.write("  - play: ivr/ivr-welcome_to_freeswitch.wav\n" * 620000)
    assert big.stat().st_size > 27 * 1000 * 1000
    code, lines = validate_paths([str(bomb), str(deep), str(big)])
    assert code == 1
    assert lines == [
        f"{bomb}:6:11: the alias *d expands the document past 20000 values (aliases count as "
        "every value they stand for); not read further",
        f"{deep}:2:71: nested deeper than 64 levels (a flow needs a handful); not read further",
        f"{big}:1:1: the file is larger than 1048576 bytes (1 MiB), the most a flow may be; "
        "not read"]


def test_a_file_at_the_size_bound_is_read(tmp_path):
    flow = "flow: padded\nsteps:\n  - answer: {}\n"
    path = tmp_path / "padded.yaml"
    path.write_text(flow + "#" * (1024 * 1024 - len(flow) - 1) + "\n")
    assert path.stat().st_size == 1024 * 1024
    assert validate_file(str(path)) == []


# -- authorize's details and the web services' missing branches ------------------------------

def test_validate_reports_details_that_can_never_pass_where_they_are_written(problems):
    assert problems("""
        flow: x
        vars: {amount: "100", currency: EUR, n: "1"}
        steps:
          - authorize:
              gateway: g
              details: {Invoices: "1", card: "4111111111111111", spaced: "${n} ${n}", ok: "INV-${n},${n}"}
    """) == [
        "6:27: authorize: a details key is a lower-case identifier of 32 characters at most "
        "(^[a-z][a-z0-9_]{0,31}$)",
        "6:38: authorize: details.card item 1 holds more than 12 digits: it could be a card "
        "number, and is never kept (a longer number must be split)",
        "6:66: authorize: details.spaced holds characters no value may (letters, digits, "
        "_ . : / # - and commas only)",
    ]
    too_many = ", ".join("k%d: a" % n for n in range(9))
    assert problems("""
        flow: x
        vars: {amount: "100", currency: EUR}
        steps:
          - authorize: {gateway: g, details: {%s}}
    """ % too_many)[0].startswith("4:38: 'details' in authorize")


def warnings_of(body):
    return [str(w) for w in check_text(textwrap.dedent(body).lstrip("\n"), "t.yaml").warnings]


def test_validate_warns_of_a_web_service_or_text_without_an_error_or_timeout_branch(tmp_path):
    body = """
        flow: x
        vars: {amount: "100", currency: EUR}
        steps:
          - call_service:
              service: crm
              on: {not-found: end, error: end}
          - send_sms: {provider: sms}
          - id: end
            hangup: {}
    """
    assert warnings_of(body) == [
        "t.yaml:6:7: warning: call_service has no 'on: {timeout: <step id>}' branch: the step "
        "would end the flow with an error, and the call in the dialplan's fallback instead of a "
        "branch of this flow",
        "t.yaml:7:5: warning: send_sms has no 'on: {error: <step id>}' branch: the step would "
        "end the flow with an error, and the call in the dialplan's fallback instead of a branch "
        "of this flow",
        "t.yaml:7:5: warning: send_sms has no 'on: {timeout: <step id>}' branch: the step would "
        "end the flow with an error, and the call in the dialplan's fallback instead of a branch "
        "of this flow"]
    assert warnings_of(body.replace("error: end}", "error: end, timeout: end}").replace(
        "{provider: sms}", "{provider: sms, on: {error: end, timeout: end}}")) == []
    path = tmp_path / "x.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    code, lines = validate_paths([str(path)])
    assert code == 0 and lines[-1] == "%s: OK (3 warnings)" % path
    assert lines[0] == "%s:6:7: warning: call_service has no 'on: {timeout: <step id>}' branch: " \
        "the step would end the flow with an error, and the call in the dialplan's fallback " \
        "instead of a branch of this flow" % path


def test_a_language_is_a_code_or_an_expression(problems):
    assert problems("""
        flow: x
        language: english
        steps: [{answer: {}}]
    """) == ["2:11: 'language' must be a language code such as en, es or ru, or a ${...} "
             "expression; got 'english'"]
    assert problems("""
        flow: x
        language: ${channel.pay_language}
        default_language: es
        steps: [{answer: {}}]
    """) == []
    assert problems("""
        flow: x
        language: ${pay_lang}
        steps: [{answer: {}}]
    """)[0].startswith("2:11: unknown variable 'pay_lang'")
