"""The one backoff every retry loop uses: capped exponential, with full jitter on request."""
import itertools

from orchestrator.backoff import delays, exponential


def test_exponential_doubles_from_the_base_up_to_the_cap():
    assert [exponential(n, 0.5, cap=30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [exponential(n, 0.01) for n in (1, 2, 3)] == [0.01, 0.02, 0.04]   # no cap: gateways


def test_delays_without_jitter_are_the_exponential_itself():
    assert list(itertools.islice(delays(1, cap=8), 6)) == [1, 2, 4, 8, 8, 8]


def test_full_jitter_draws_between_zero_and_the_capped_exponential():
    assert list(itertools.islice(delays(1, cap=8, jitter=lambda: 1.0), 5)) == [1, 2, 4, 8, 8]
    assert list(itertools.islice(delays(1, cap=8, jitter=lambda: 0.0), 3)) == [0, 0, 0]
    assert list(itertools.islice(delays(1, cap=8, jitter=lambda: 0.5), 5)) == [0.5, 1, 2, 4, 4]


def test_a_peer_down_for_hours_still_gets_a_delay():
    # 2 ** n as a float overflows past n = 1023: a node retried every few seconds gets there
    assert next(itertools.islice(delays(0.5, cap=30, jitter=lambda: 1.0), 5000, None)) == 30
    assert exponential(10 ** 6, 0.5, cap=30) == 30
