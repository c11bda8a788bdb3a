"""Benchmarks and fault benches that print figures: run as ``python -m bench.<name>``.

Speed and failure figures live here, never in timed unit tests; the test suite runs a small,
bounded portion of a bench where it proves behaviour (tests/bench/).
"""
