"""The gateway client keeps as many connections as calls may wait on it at once (the service
sizes it to ``max_calls``): past an unsized pool's ten, every extra concurrent payment
opened a connection for one request and threw it away."""
import gevent
import gevent.event
import pytest
from gevent.pywsgi import WSGIServer

from orchestrator.payments.gateways.transport import GatewayConfigError, JsonTransport

AT_ONCE = 16


class HeldServer:
    """Answers ``{}`` once ``AT_ONCE`` requests are in, so they are all open together;
    remembers which client port each request came from (one port, one connection)."""

    def __init__(self):
        self.ports = []
        self.arrived = 0
        self.all_in = gevent.event.Event()
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None, error_log=None)
        self.server.start()
        self.url = "http://127.0.0.1:%d/pay" % self.server.server_port

    def app(self, environ, start_response):
        self.ports.append(environ["REMOTE_PORT"])
        self.arrived += 1
        if self.arrived % AT_ONCE == 0:
            self.all_in.set()
        self.all_in.wait(timeout=5)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]

    def round(self, transport):
        self.all_in.clear()
        jobs = [gevent.spawn(transport.call, "POST", self.url, b"{}") for _ in range(AT_ONCE)]
        gevent.joinall(jobs, timeout=10, raise_error=True)
        assert all(job.value.status == 200 for job in jobs)


@pytest.fixture
def server():
    held = HeldServer()
    yield held
    held.server.stop(timeout=1)


def test_a_pool_sized_to_the_calls_reuses_every_connection(server):
    transport = JsonTransport(connect_timeout=2, read_timeout=5)
    transport.size_pool(AT_ONCE)
    server.round(transport)
    server.round(transport)
    assert len(server.ports) == 2 * AT_ONCE
    assert len(set(server.ports)) == AT_ONCE       # the second round on the first's connections


def test_an_unsized_pool_of_ten_throws_connections_away(server):
    transport = JsonTransport(connect_timeout=2, read_timeout=5)
    server.round(transport)
    server.round(transport)
    assert len(set(server.ports)) > AT_ONCE        # what size_pool is there for


def test_an_empty_pool_is_refused():
    with pytest.raises(GatewayConfigError, match="at least one"):
        JsonTransport().size_pool(0)
