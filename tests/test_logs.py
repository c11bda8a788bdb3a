import io
import json
import logging

import gevent
import pytest

from orchestrator.logs import LOG_FIELDS, RedactingFilter, ensure_redaction, log_context, redact, setup_logging


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


def test_redact_keeps_ids_and_references_readable():
    for text in ("gateway id sbx_cdda1234567b5421", "reference INV-20261201-0042",
                 "call 0d2c1e0a-1111-4222-8333-444455556666 key 0d2c1e0a-1111-4222-8333-444455556666:2",
                 "session ps_5f2a0c1e9b7d4e3a1c2b3d4e", "order 123456789012", "from 127.0.0.1:8084"):
        assert redact(text) == text


def test_redact_catches_a_card_split_by_any_separator():
    for text in ("4111.1111/1111#1111", "4111 1111 1111 1111", "4111_1111_1111_1111",
                 "4111*1111*1111*1111", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "4111 - 1111 - 1111 - 1111",
                 "378282246310005", "4111111111111111 1230"):
        masked = redact("ref=%s." % text)
        assert not any(c.isdigit() for c in masked), masked


def test_structured_and_context_fields_are_redacted_too(captured):
    log = logging.getLogger("t")
    with log_context(call="4111-1111-1111-1111"):
        log.info("seen", extra={LOG_FIELDS: {"detail": "ref 4111.1111.1111.1111", "source": "127.0.0.1"}})
    line = captured.getvalue().strip().splitlines()[-1]
    assert "4111" not in line
    assert "detail=\"ref XXXX.XXXX.XXXX.XXXX\"" in line and "source=127.0.0.1" in line


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


def test_every_handler_redacts_even_one_a_library_added_itself():
    stream = io.StringIO()
    library_logger = logging.getLogger("some.library")
    own = logging.StreamHandler(stream)
    library_logger.addHandler(own)
    root_handler = setup_logging("INFO", "logfmt", stream=io.StringIO())
    try:
        assert any(isinstance(f, RedactingFilter) for f in own.filters)
        assert any(isinstance(f, RedactingFilter) for f in logging.lastResort.filters)
        assert ensure_redaction() == 0  # idempotent
        library_logger.warning("token 4111111111111111")
        assert "4111111" not in stream.getvalue() and "XXXX" in stream.getvalue()
    finally:
        library_logger.removeHandler(own)
        logging.getLogger().removeHandler(root_handler)


def test_a_call_logs_call_tenant_flow_and_step_on_its_lines(service_on_simulator):
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        world = service_on_simulator({"tenants": ["acme"]})
        call = world.place([{"wait_prompt": 2}, {"press": "9"}, {"wait_prompt": 4}, {"press": "2"}],
                           {"pay_flow": "welcome", "pay_tenant": "acme"})
        call.wait(timeout=20)
        world.wait_idle()
        world.stop()
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    of_call = [line for line in lines if line.get("call") == call.uuid]
    assert any(line["msg"].startswith("call ended: ") for line in of_call)
    assert all(line["tenant"] == "acme" for line in of_call)
    assert all(line["flow"] == "welcome" for line in of_call)
    collect = [line for line in of_call if line["msg"].startswith("collect into choice: attempt 1")]
    assert collect and collect[0]["step"] == "menu" and collect[0]["level"] == "info"


def test_a_calls_lines_name_its_node_where_nodes_are_configured(service_on_simulator):
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        world = service_on_simulator(node=True)
        assert world.service.pool.node("fs1").wait_connected(5)
        call = world.place([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
        call.wait(timeout=20)
        world.wait_idle()
        world.stop()
    finally:
        logging.getLogger().removeHandler(handler)
    of_call = [json.loads(line) for line in stream.getvalue().splitlines()
               if json.loads(line).get("call") == call.uuid]
    assert of_call and all(line["node"] == "fs1" for line in of_call)
