"""`orchestrator demo` (what `make demo` runs) ends every scripted call as its scenario says."""
import os
import subprocess
import sys

from tests.support.canary import traces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_passes_and_shows_no_card_digit():
    result = subprocess.run([sys.executable, "-m", "orchestrator", "demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 26 calls ended as expected" in result.stdout
    # the agent-started charge: held with nothing charged, then a double click charges once
    assert "awaiting charge: 12.50 EUR, card visa 411111******1111; charges so far: 0" in result.stdout
    assert "both answered approved and approved (auth code " in result.stdout
    assert "); charged once" in result.stdout
    for row in ("agent-assisted payment (transfer)", "agent-assisted payment (stay)",
                "agent-assisted payment (transfer, the agent charges)"):
        assert any(line.startswith(row) and line.split()[-1] == "ok"
                   for line in result.stdout.splitlines()), row
    assert "agent heard" in result.stdout and "0 key tones and 0 key events" in result.stdout
    assert "number        valid    visa 411111******1111" in result.stdout
    assert ("agent alice refunds 5.00 EUR (asked twice, one Idempotency-Key): refunded once; "
            "the payment is partially_refunded, 7.50 EUR left to refund") in result.stdout
    # each paid collections call (five of them, one paid by link) told the CRM once, by its
    # status callback; the link's hosted page paid, its webhook re-sent changing nothing
    told = [line for line in result.stdout.splitlines() if line.strip().startswith("CRM told:")]
    assert len(told) == 5 and told.count("  CRM told: C-1001 paid 2026110001, 2026120001, "
                                         "2026120002 (84.89 EUR), lines 600111222, 910000000 "
                                         "reactivated") == 4, told
    assert "0 refused), 5 reactivations: one per paid collections call" in result.stdout
    assert "hosted page paid: webhook answered 200, re-sent: 200 (nothing changed)" in result.stdout
    assert traces(result.stdout + result.stderr) == []
