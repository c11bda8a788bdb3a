"""gevent's own error reports go through logging and its redaction, never raw to stderr."""
import io
import json
import logging

import gevent
import pytest
import requests

from orchestrator.hub_errors import restore_hub_errors, route_hub_errors
from orchestrator.logs import setup_logging

CARD = "4111111111111111"


@pytest.fixture
def log_lines():
    """The JSON log lines written meanwhile, as the service writes them."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    setup_logging("INFO", "json", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def crash(reason):
    raise ValueError("card %s %s" % (CARD, reason))


def test_a_crashing_greenlet_is_one_redacted_log_line_and_nothing_on_stderr(
        service_on_simulator, log_lines, capfd):
    world = service_on_simulator()                 # the service's start routes the hub's reports
    gevent.spawn(crash, "refused").join()
    lines = [line for line in log_lines() if line["logger"] == "orchestrator.greenlet"]
    assert [line["msg"] for line in lines] == ["uncaught ValueError in greenlet running crash"]
    assert lines[0]["level"] == "error"
    assert "ValueError: card XXXXXXXXXXXXXXXX refused" in lines[0]["exc"]
    err = capfd.readouterr().err
    assert CARD not in err and "Traceback" not in err
    # the service goes on taking calls
    result = world.run_call([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
    assert result.outcome.result == "transferred"


def test_a_response_body_that_fails_inside_pywsgi_is_logged_redacted(
        service_on_simulator, log_lines, capfd):
    world = service_on_simulator({"http": {"enabled": True, "host": "127.0.0.1", "port": 0}})

    def failing_body(environ, start_response):
        def body():
            yield b""
            crash("in a response")        # past the router: pywsgi reports it to the hub
        start_response("200 OK", [])
        return body()

    world.service.http.router.route("/failing", failing_body)
    with pytest.raises(requests.RequestException):
        requests.get("http://%s:%d/failing" % world.http_address, timeout=5).raise_for_status()
    gevent.sleep(0.1)
    reports = [line for line in log_lines() if line["logger"] == "orchestrator.greenlet"]
    assert [line["msg"] for line in reports] == ["uncaught ValueError in an HTTP request"]
    assert "ValueError: card XXXXXXXXXXXXXXXX in a response" in reports[0]["exc"]
    err = capfd.readouterr().err
    assert CARD not in err and "Traceback" not in err
    assert requests.get("http://%s:%d/healthz" % world.http_address, timeout=5).status_code == 200


def test_without_the_routing_gevent_prints_the_card_raw(capfd):
    """The control: what the routing prevents."""
    restore_hub_errors()
    try:
        gevent.spawn(crash, "refused").join()
    finally:
        route_hub_errors()
    assert CARD in capfd.readouterr().err
