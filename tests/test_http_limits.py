"""The HTTP server's bounds over real sockets, on a running service: each bad client is cut
off as the README says, and meanwhile ``/healthz`` answers and a card call is taken."""
import json
import logging
import time

import gevent
import pytest
import requests
from gevent import socket

from orchestrator.http_limits import HttpLimits, warn_if_descriptors_short
from orchestrator.payments.events import PaymentApproved
from tests.support.agent import PAYING_CALLER
from tests.support.sockets import tcp_sockets_on_port
from tests.support.waiting import eventually

# small enough for a quick suite, far apart enough to tell the bounds from one another
LIMITS = {"max_connections": 20, "header_timeout": 1.0, "idle_timeout": 1.5,
          "body_timeout": 1.0, "max_header_bytes": 8192, "max_body_bytes": 4096}
PAYMENT = {"pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
           "pay_reference": "INV-1"}


@pytest.fixture
def world(service_on_simulator):
    return service_on_simulator({"http": dict(LIMITS, enabled=True, host="127.0.0.1", port=0)},
                                sandbox=True)


def connect(world):
    sock = socket.create_connection(world.http_address, timeout=5)
    sock.settimeout(10)
    return sock


def read_until_closed(sock):
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def status_of(response):
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def body_of(response):
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def healthz(world):
    return requests.get("http://%s:%d/healthz" % world.http_address, timeout=5)


def assert_still_serving(world):
    """``/healthz`` answers, and a caller pays by card."""
    assert healthz(world).status_code == 200
    events = world.record_payment_events()
    world.run_call(PAYING_CALLER, PAYMENT, timeout=60)
    assert any(isinstance(event, PaymentApproved) for event in events)


def cut_off(world, key):
    return world.metric("payivr_limit_rejections_total", limit=key)


def server_side_connections(world):
    port = world.http_address[1]
    return [fd for fd, (local, _, state) in tcp_sockets_on_port(port).items()
            if local == port and state == "ESTABLISHED"]


def test_the_defaults_are_the_documented_ones():
    assert HttpLimits() == HttpLimits(max_connections=200, header_timeout=10.0, idle_timeout=30.0,
                                      body_timeout=10.0, max_header_bytes=32768,
                                      max_body_bytes=65536)


def test_idle_connections_past_the_cap_do_not_stop_healthz_or_a_card_call(world, caplog):
    cap = LIMITS["max_connections"]
    idle = [connect(world) for _ in range(cap * 3)]
    try:
        # the server holds no more than the cap: each newcomer took the oldest idle one's place
        eventually(lambda: len(server_side_connections(world)) <= cap, what="the cap held")
        started = time.monotonic()
        assert_still_serving(world)
        assert healthz(world).status_code == 200
        assert time.monotonic() - started < 30
        assert len(server_side_connections(world)) <= cap
        # the oldest were closed by the server: they read the end of the stream
        idle[0].settimeout(2)
        assert idle[0].recv(1) == b""
        assert cut_off(world, "http.max_connections") >= cap * 2
    finally:
        for sock in idle:
            sock.close()


def test_when_every_connection_is_inside_a_request_a_newcomer_is_answered_503(world):
    release = gevent.event.Event()

    def slow(environ, start_response):
        release.wait(10)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    world.service.http.router.route("/slow", slow)
    cap = LIMITS["max_connections"]
    busy = []
    for _ in range(cap):
        sock = connect(world)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        busy.append(sock)
    try:
        eventually(lambda: len(world.service.http._server.connections) == cap and all(
            h.in_request for h in world.service.http._server.connections.values()),
            what="every connection inside /slow")
        late = connect(world)
        response = read_until_closed(late)
        assert status_of(response) == 503
        assert body_of(response)["error"] == "service_unavailable"
        release.set()
        for sock in busy:
            assert status_of(sock.recv(4096)) == 200
        assert_still_serving(world)
    finally:
        release.set()
        for sock in busy:
            sock.close()


def test_a_slowloris_head_is_answered_408_after_the_header_timeout(world):
    sock = connect(world)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")

    def drip():
        try:
            while True:
                sock.sendall(b"X")         # a header that never ends
                gevent.sleep(0.1)
        except OSError:
            pass

    dripping = gevent.spawn(drip)
    try:
        response = read_until_closed(sock)
        elapsed = time.monotonic() - started
    finally:
        dripping.kill()
        sock.close()
    assert status_of(response) == 408
    assert LIMITS["header_timeout"] <= elapsed < LIMITS["header_timeout"] + 2, elapsed
    assert cut_off(world, "http.header_timeout") == 1
    assert_still_serving(world)


def test_a_request_line_sent_byte_by_byte_is_cut_off_too(world):
    sock = connect(world)
    started = time.monotonic()

    def drip():
        try:
            for byte in b"GET /healthz HTTP/1.1\r\n" * 10:
                sock.sendall(bytes([byte]))
                gevent.sleep(0.1)
        except OSError:
            pass

    dripping = gevent.spawn(drip)
    try:
        response = read_until_closed(sock)
    finally:
        dripping.kill()
        sock.close()
    assert status_of(response) == 408
    assert time.monotonic() - started < LIMITS["header_timeout"] + 2
    assert_still_serving(world)


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(world):
    sock = connect(world)
    started = time.monotonic()
    assert read_until_closed(sock) == b""
    elapsed = time.monotonic() - started
    sock.close()
    assert LIMITS["idle_timeout"] <= elapsed < LIMITS["idle_timeout"] + 2, elapsed
    assert_still_serving(world)


def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(world):
    sock = connect(world)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    first = sock.recv(4096)
    assert status_of(first) == 200 and b"Connection: close" not in first
    started = time.monotonic()
    assert read_until_closed(sock) == b""
    elapsed = time.monotonic() - started
    sock.close()
    assert LIMITS["idle_timeout"] <= elapsed < LIMITS["idle_timeout"] + 2, elapsed


def test_a_head_larger_than_the_bound_is_431(world):
    sock = connect(world)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
    response = read_until_closed(sock)
    sock.close()
    assert status_of(response) == 431
    many = connect(world)     # small headers, but more of them than http.client reads (100)
    many.sendall(b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150))
                 + b"\r\n")
    assert status_of(read_until_closed(many)) == 431
    many.close()
    assert cut_off(world, "http.max_header_bytes") == 2
    assert_still_serving(world)


def test_a_body_past_the_bound_is_413_before_it_is_read(world):
    sock = connect(world)
    # the length alone: not one byte of the announced gigabyte is sent, and none is waited for
    sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000000\r\n\r\n")
    started = time.monotonic()
    response = read_until_closed(sock)
    sock.close()
    assert status_of(response) == 413
    assert body_of(response) == {"error": "payload_too_large",
                                 "message": "the body is larger than 4096 bytes"}
    assert time.monotonic() - started < LIMITS["body_timeout"]
    assert cut_off(world, "http.max_body_bytes") == 1
    assert_still_serving(world)


def test_a_chunked_body_is_411(world):
    sock = connect(world)
    sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n0\r\n\r\n")
    response = read_until_closed(sock)
    sock.close()
    assert status_of(response) == 411
    assert_still_serving(world)


def test_a_body_that_stops_arriving_is_408_after_the_body_timeout(world, caplog):
    seen = []

    def reads_body(environ, start_response):
        seen.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    world.service.http.router.route("/upload", reads_body)
    sock = connect(world)
    started = time.monotonic()
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    with caplog.at_level(logging.ERROR):
        response = read_until_closed(sock)
    elapsed = time.monotonic() - started
    sock.close()
    assert status_of(response) == 408
    assert body_of(response)["error"] == "request_timeout"
    assert LIMITS["body_timeout"] <= elapsed < LIMITS["body_timeout"] + 2, elapsed
    assert seen == [] and "Traceback" not in caplog.text
    assert cut_off(world, "http.body_timeout") == 1
    assert_still_serving(world)


def test_no_bad_head_prints_a_traceback(world, capfd):
    for head in (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150)),
                 b"NOT HTTP AT ALL\r\n", b"GET /healthz HTTP/9.9\r\n",
                 b"POST /healthz HTTP/1.1\r\nContent-Length: -5\r\n"):
        sock = connect(world)
        sock.sendall(head + b"\r\n")
        assert status_of(read_until_closed(sock)) in (400, 431)
        sock.close()
    assert "Traceback" not in capfd.readouterr().err
    assert_still_serving(world)


def test_start_up_warns_when_calls_and_connections_could_run_out_of_descriptors(
        monkeypatch, caplog):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    def warnings():
        return [r.getMessage() for r in caplog.records if r.name == "orchestrator.http"]

    with caplog.at_level(logging.WARNING, logger="orchestrator.http"):
        warn_if_descriptors_short(100, 200, 2)        # 366: room enough
        assert warnings() == []
        warn_if_descriptors_short(800, 200, 2)
    assert warnings() == [
        "max_calls (800) + http.max_connections (200) + 66 for nodes and the rest is 1066, more "
        "than the 1024 file descriptors this process may open (ulimit -n): lower them or raise "
        "the limit"]
