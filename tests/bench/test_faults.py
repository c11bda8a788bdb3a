"""The fault bench, small: card payments through a real ``orchestrator run`` process under the
gateway's faults and the service's deaths (SIGKILL at random and mid-request, SIGTERM past its
grace), restarts and reconciliations; the books must come out exact.

The full bench (``python -m bench.faults``: 1,000 runs) prints the figures; this is the same code
with fewer runs, so that every ``make test`` proves the books on a fresh mix of faults.
"""
import pytest

from bench.faults import Plan, run

pytestmark = pytest.mark.faults


def test_the_books_are_exact_after_faults_deaths_restarts_and_reconciliation(tmp_path):
    figures = run(Plan(runs=80, kills=4, concurrency=12, seed=5), str(tmp_path))
    report = "\n".join(figures.lines())
    books = figures.books
    assert books.exact, report
    assert books.standing == books.approved > 0 and books.charges_per_approved == 1.0, report
    assert books.double_charges == books.hidden_charges == books.approved_not_charged == 0, report
    # what was exercised: every kind of death, payments left unknown for the last reconcile
    assert figures.sigkills >= 2 and figures.mid_request_kills >= 1 and figures.sigterms >= 1, report
    assert figures.restarts == 4 and figures.cut_by_a_kill > 0, report
    assert figures.backlog_store > 0 and figures.backlog_metric == figures.backlog_store, report
    assert books.statuses["error"] > 0, report      # keys cancelled: never charged, now closed
    assert sum(figures.by_fault.values()) == 80 and len(figures.by_fault) >= 10, report
