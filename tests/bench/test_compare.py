"""The comparison bench, small: the service and a bare greenswitch app on the same simulated
calls, each in its own process, and the table the full run prints.

The full bench (``python -m bench.compare``) prints the figures; this is the same code with a
few calls, checking that every call was correct and every row and column printed, never how
fast anything was. Its ``--freeswitch`` half runs here when ``FREESWITCH_BIN`` names a switch to
start (marked ``freeswitch``, as tests/live is), and is skipped saying so otherwise.
"""
import os

import pytest

from bench.compare import (CLIENTS, FS_LOADS, FS_ROWS, LOADS, QUICK, ROWS, Plan, all_correct,
                           all_correct_freeswitch, main, report, report_freeswitch, run,
                           run_freeswitch)


def test_every_call_is_correct_and_the_table_has_every_row(tmp_path):
    plan = Plan(**QUICK)
    results = run(plan, str(tmp_path))
    lines = report(plan, results)
    text = "\n".join(lines)
    assert all_correct(results), text
    for load in LOADS:
        for client in CLIENTS:
            if load == "card" and client == "bare":
                assert results[load][client] == [], text     # no payment in the bare app
                continue
            [figures] = results[load][client]
            assert figures.calls == figures.correct > 0, text
            assert figures.held == plan.hold, text
            assert figures.events > 0 and figures.kbytes > 0, text
            assert figures.client_ms >= 0 and figures.sim_ms >= 0, text
            assert figures.setup_p50 is not None and figures.setup_p50 <= figures.setup_p99, text
            # the ramp's step may fail on a loaded machine: a figure, not a correctness check
            assert figures.rate in (0,) + tuple(plan.rates), text
    rows = [line for line in lines if line.startswith(LOADS)]
    assert len(rows) == len(LOADS) * len(ROWS), text
    expected = [(load, attribute) for load in LOADS for _, attribute, _ in ROWS]
    for line, (load, attribute) in zip(rows, expected):
        cells = line.split()
        assert cells[0] == load, line
        if load == "card":
            assert cells[-2:] == ["-", "-"], line          # bare column and ratio
            continue
        if attribute in ("rate_cores", "rate_per_core"):
            # a ramp step too short for the CPU clock's 10 ms tick, or none passed: no figure
            continue
        assert "n/a" not in cells, line
        # a ratio is printed wherever the bare app's figure is not zero; a zero (the bare app
        # idle while holding, within the CPU clock's 10 ms tick over a short run) has none
        if all(getattr(f, attribute) == 0 for f in results[load]["bare"]):
            assert cells[-1] == "-", line
        else:
            assert cells[-1] != "-", line
    assert "correct: card service run 1" in text


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--calls", "-1"], ["--rates", "5,x"],
                                  ["--rates", "0"]])
def test_bad_counts_are_refused_before_anything_starts(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "must be positive" in err or "numbers separated by commas" in err, err


FS_SKIP = ("no FreeSWITCH to start: set FREESWITCH_BIN to the freeswitch binary (and "
           "FREESWITCH_SOUNDS to its English sounds) to run the bench's --freeswitch half")


@pytest.mark.freeswitch
@pytest.mark.skipif(not os.environ.get("FREESWITCH_BIN"), reason=FS_SKIP)
def test_on_a_real_switch_every_call_is_correct_and_the_switch_cpu_is_printed(tmp_path):
    """A few calls of each load through a real switch started from freeswitch_conf/: every call
    judged correct on the switch's own events, every row printed with the switch's CPU beside
    the client's and the service's share of it; never how fast."""
    plan = Plan(**dict(QUICK, calls=4, card_calls=2, concurrency=2))
    results = run_freeswitch(plan, os.environ["FREESWITCH_BIN"],
                             os.environ.get("FREESWITCH_SOUNDS"), str(tmp_path))
    lines = report_freeswitch(plan, results, "lab")
    text = "\n".join(lines)
    assert all_correct_freeswitch(results), text
    placed = {"minimal": plan.calls + plan.warmup, "card": plan.card_calls + 1}   # + warm-up
    for load, client in (("minimal", "service"), ("minimal", "bare"), ("card", "service")):
        [figures] = results[load][client]
        assert figures.calls == figures.correct == placed[load], text
        assert figures.switch_ms > 0, text          # a call costs the switch some ticks
        assert figures.events > 0 and figures.kbytes > 0, text
        assert figures.setup_p50 is not None and figures.setup_p50 <= figures.setup_p99, text
    assert results["card"]["bare"] == [], text      # no payment in the bare app
    # the card call got more from the switch than the minimal one: the prompts and the reads
    assert results["card"]["service"][0].events > results["minimal"]["service"][0].events, text
    rows = [line for line in lines if line.startswith(("freeswitch ", "fs-card "))]
    assert len(rows) == len(FS_LOADS) * len(FS_ROWS), text
    for line in rows:
        cells = line.split()
        assert "n/a" not in cells, line
        if cells[0] == "fs-card":
            assert cells[-2:] == ["-", "-"], line          # bare column and ratio
    assert any(line.startswith("freeswitch: the service's CPU per call is ") for line in lines), text
    assert "correct: fs-card service run 1: 3 of 3 calls" in text
