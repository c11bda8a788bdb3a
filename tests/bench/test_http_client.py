"""The HTTP client bench runs and prints its figures (how fast is never asserted here)."""
from bench import http_client


def test_the_bench_measures_both_clients_and_prints_their_ratio(capsys):
    assert http_client.main(["--requests", "20", "--rounds", "1", "--latency-requests", "3"]) == 0
    out = capsys.readouterr().out
    assert "JsonTransport (urllib3)" in out and "requests.Session" in out
    assert "ratio (transport / requests):" in out
    assert "pywsgi's WSGIServer" in out and "PromptWSGIServer" in out
