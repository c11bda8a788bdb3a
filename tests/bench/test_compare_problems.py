"""How the comparison bench words what went wrong: wrong calls counted by why, with one
call's timeline for each kind, the commonest first."""
from bench.compare import reasons, tally


def test_wrong_calls_are_counted_by_why_with_the_first_timeline_of_each():
    calls = [{"ok": True, "why": None, "timeline": None},
             {"ok": False, "why": "hung up by caller", "timeline": "0.1:answer"},
             {"ok": False, "why": "socket gone", "timeline": "0.2:answer"},
             {"ok": False, "why": "socket gone", "timeline": "0.3:answer"}]
    assert reasons(calls) == " (2: socket gone [0.2:answer]; 1: hung up by caller [0.1:answer])"


def test_nothing_wrong_says_nothing():
    assert reasons([{"ok": True}]) == "" and tally({}) == ""
