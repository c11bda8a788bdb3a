"""bench/relay.py runs and prints its figures (a few requests: the bench itself is run by hand)."""
from bench import relay


def test_the_relay_bench_prints_its_round_trips(postgres_schema, capsys):
    assert relay.main(["--url", postgres_schema.url, "--requests", "20"]) == 0
    out = capsys.readouterr().out
    assert "forwarded requests: 20, round trip ms: median" in out
    assert "reply payload:" in out and "of at most 7999" in out
