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
    assert "all 21 calls ended as expected" in result.stdout
    assert "agent heard" in result.stdout and "0 key tones and 0 key events" in result.stdout
    assert "number        valid    visa 411111******1111" in result.stdout
    assert traces(result.stdout + result.stderr) == []
