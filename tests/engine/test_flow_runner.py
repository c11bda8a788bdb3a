import logging

from tests.engine.fake_channel import FakeChannel

from orchestrator.engine import FlowOutcome, FlowRunner, load_flow_text
from orchestrator.engine.channel import CallGone, CommandTimeout


def test_running_off_the_end_completes_without_hanging_up(run_flow):
    outcome, channel = run_flow("flow: x\nsteps:\n  - answer: {}\n  - speak: bye\n")
    assert outcome == FlowOutcome("completed", "speak@4", "ran past the last step")
    assert "hangup" not in channel.names()


def test_caller_hanging_up(run_flow):
    outcome, _ = run_flow("""
        flow: x
        steps:
          - answer:
          - id: menu
            collect: {into: c}
    """, channel=FakeChannel(fail_on={"collect_digits": CallGone("NORMAL_CLEARING")}))
    assert outcome == FlowOutcome("caller-hung-up", "menu", "call gone: NORMAL_CLEARING")


def test_command_timeout_is_an_error_logged_with_flow_and_step(run_flow, caplog):
    outcome, channel = run_flow("""
        flow: timing
        steps:
          - answer:
          - id: greet
            play: a.wav
          - hangup:
    """, channel=FakeChannel(fail_on={"playback": CommandTimeout("no CHANNEL_EXECUTE_COMPLETE in 30s")}))
    assert outcome.result == "error" and outcome.step == "greet"
    assert "did not answer in time" in outcome.detail
    assert "flow timing step greet failed" in caplog.text
    assert "hangup" not in channel.names()  # left to the dialplan fallback


def test_unknown_channel_variable_is_a_clear_runtime_error(run_flow, caplog):
    outcome, _ = run_flow("""
        flow: x
        vars: {amount: "${channel.pay_amount}"}
        steps:
          - say: "${amount}"
    """)
    assert outcome == FlowOutcome("error", None, "channel variable 'pay_amount' is not set on this call")
    assert "flow x step - failed" in caplog.text


def test_variables_from_the_channel(run_flow):
    _, channel = run_flow("""
        flow: x
        vars: {amount: "${channel.pay_amount}", twice: "${amount}${amount}"}
        steps:
          - say: "${twice}"
    """, channel=FakeChannel(variables={"pay_amount": "12"}))
    assert channel.heard() == [("say", "1212")]


def test_attempts_count_step_runs(run_flow):
    outcome, channel = run_flow("""
        flow: x
        steps:
          - id: loop
            speak: "run ${attempts.loop}"
          - branch: {if: "${attempts.loop} < 3", then: loop}
          - hangup:
    """)
    assert channel.heard() == [("speak", "run 1"), ("speak", "run 2"), ("speak", "run 3")]
    assert outcome.result == "completed"


def test_an_endless_loop_is_stopped(run_flow, caplog):
    outcome, channel = run_flow("""
        flow: spin
        steps:
          - id: top
            play: a.wav
          - goto: top
    """, max_step_runs=50)
    assert outcome.result == "error"
    assert outcome.detail == ("more than 50 steps run on one call (limits.max_step_runs); "
                              "a goto/branch loop never ends")
    assert channel.names().count("playback") == 25


def test_a_bug_in_a_step_ends_the_flow_with_an_error(run_flow, caplog):
    outcome, _ = run_flow("flow: x\nsteps:\n  - answer:\n",
                          channel=FakeChannel(fail_on={"answer": RuntimeError("boom")}))
    assert outcome == FlowOutcome("error", "answer@3", "unexpected RuntimeError")
    assert "unexpected failure" in caplog.text


def test_collected_digits_never_reach_the_log(run_flow, caplog):
    caplog.set_level(logging.DEBUG)
    run_flow("""
        flow: x
        steps:
          - collect: {into: account, min_digits: 6, max_digits: 6, choices: ["424242"],
                      on: {too-many-failed-attempts: out}}
          - id: out
            hangup:
    """, channel=FakeChannel(keys=["987654", "123456", "424242"]))
    for secret in ("987654", "123456", "424242"):
        assert secret not in caplog.text


def test_runner_defaults_settings_and_logger():
    flow = load_flow_text("flow: x\nsteps:\n  - speak: hi\n")
    channel = FakeChannel()
    assert FlowRunner(flow, channel).run().result == "completed"
    assert channel.calls == [("speak", ("hi",), {"engine": "flite", "voice": "kal"})]
