"""The instances bench, small: card payments through real ``orchestrator run`` processes on
SQLite (one instance) and PostgreSQL (one, and two sharing a database), the store's write
latency read from the services' own histogram.

The full bench (``python -m bench.instances``) prints the figures; this is the same code with a
handful of calls, checking that every call is accounted for and every figure printed, never how
fast anything was.
"""
import math

import pytest

from bench.instances import (HEADER, SQLITE_SHARED, WRITES, Plan, main, quantile, report, run,
                             write_buckets)


def test_every_call_is_accounted_for_and_every_figure_printed(tmp_path, postgres_server):
    plan = Plan(calls=6, concurrency=3, postgres_url=postgres_server.url)
    results, notes = run(plan, str(tmp_path))
    lines = report(plan, results, notes)
    text = "\n".join(lines)
    assert [r.name for r in results] == ["sqlite, 1 instance", "postgresql, 1 instance",
                                         "postgresql, 2 instances"], text
    for result in results:
        assert result.accounted_for, text
        assert result.heard["approved"] == result.records["approved"] == 6, text
        assert result.calls_per_second > 0, text
        # each payment's number, pending row and outcome were timed, once each
        assert result.written() == 3 * 6 and set(WRITES) <= set(result.writes), text
        p50, p99 = result.latency(0.5), result.latency(0.99)
        assert p50 is not None and p99 is not None and 0 < p50 <= p99, text
    assert results[2].per_instance == [3, 3], text      # the calls split between the two
    assert HEADER in lines and SQLITE_SHARED in lines, text
    for result in results:
        [line] = [line for line in lines if line.startswith(result.name + " ")]
        assert line.split()[-14:-11] == ["6", "6", "6"] and line.count(" ms") == 5, line
    assert "NOT ALL CALLS" not in text


def test_quantiles_interpolate_within_buckets_as_prometheus_does():
    buckets = [(0.001, 50.0), (0.01, 90.0), (0.1, 100.0), (math.inf, 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.001)
    assert quantile(0.7, buckets) == pytest.approx(0.001 + 0.009 * 20 / 40)
    assert quantile(0.99, buckets) == pytest.approx(0.01 + 0.09 * 9 / 10)
    assert quantile(0.99, [(0.001, 0.0), (math.inf, 4.0)]) == 0.001   # past the last bound
    assert quantile(0.5, [(0.001, 0.0), (math.inf, 0.0)]) is None


def test_the_write_histogram_is_read_from_a_metrics_page():
    page = "\n".join([
        "# HELP payivr_store_write_seconds t", "# TYPE payivr_store_write_seconds histogram",
        'payivr_store_write_seconds_bucket{le="0.001",operation="begin"} 2.0',
        'payivr_store_write_seconds_bucket{le="+Inf",operation="begin"} 3.0',
        'payivr_store_write_seconds_count{operation="begin"} 3.0',
        'payivr_store_write_seconds_sum{operation="begin"} 0.004', ""])
    assert write_buckets(page) == {"begin": [(0.001, 2.0), (math.inf, 3.0)]}


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--concurrency", "0"], ["--pool-size", "0"]])
def test_counts_below_one_are_refused_before_anything_starts(argv, capsys):
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
