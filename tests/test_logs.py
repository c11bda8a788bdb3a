import io
import json
import logging

import gevent
import pytest

from orchestrator.logs import log_context, redact, setup_logging


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = setup_logging("DEBUG", "logfmt", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_redact_masks_card_like_runs_and_keeps_short_numbers():
    assert redact("pan 4111111111111111 ok") == "pan XXXXXXXXXXXXXXXX ok"
    assert redact("pan 4111 1111 1111 1111") == "pan XXXX XXXX XXXX XXXX"
    assert redact("pan 4111-1111-1111-1111") == "pan XXXX-XXXX-XXXX-XXXX"
    assert redact("amount 1250 in 3 tries") == "amount 1250 in 3 tries"
    assert redact("DTMF-Digit: 7") == "DTMF-Digit: *"
    assert redact("digits=1234") == "digits=****"


def test_every_line_is_redacted_including_arguments_and_tracebacks(captured):
    log = logging.getLogger("t")
    log.info("keyed %s", "4111111111111111")
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    assert "4111111" not in text
    assert "ValueError" in text


def test_context_fields_ride_each_line_and_do_not_leak_between_greenlets(captured):
    log = logging.getLogger("t")

    def call(name):
        with log_context(call=name, flow="welcome"):
            gevent.sleep(0.01)
            log.info("step done")

    gevent.joinall([gevent.spawn(call, "a"), gevent.spawn(call, "b")])
    log.info("outside")
    lines = captured.getvalue().splitlines()
    assert any("call=a flow=welcome" in line for line in lines)
    assert any("call=b flow=welcome" in line for line in lines)
    assert "call=" not in lines[-1]


def test_json_format_is_one_object_a_line():
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        with log_context(call="c1"):
            logging.getLogger("t").info("hello\nworld")
    finally:
        logging.getLogger().removeHandler(handler)
    record = json.loads(stream.getvalue().strip())
    assert record["call"] == "c1" and record["msg"] == "hello\nworld" and record["level"] == "info"
