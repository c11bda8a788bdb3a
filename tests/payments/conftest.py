"""Fixtures for the payments tests: a throwaway TLS certificate for 127.0.0.1, and servers.
Test cards and ``make_card`` are in tests/support/cards.py."""
import ssl

import pytest
from gevent.pool import Pool
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from tests.support.tls import make_certificate


@pytest.fixture(scope="session")
def other_tls_files(tmp_path_factory):
    """A second, unrelated certificate: a client trusting it must refuse the first."""
    return make_certificate(tmp_path_factory.mktemp("tls-other"))


@pytest.fixture
def https_server(tls_files):
    """Start a WSGI app over HTTPS on 127.0.0.1; returns its base URL."""
    servers = []

    def start(app):
        certfile, keyfile = tls_files
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None,
                            ssl_context=context, spawn=Pool(16))
        server.start()
        servers.append(server)
        return "https://127.0.0.1:%d" % server.server_port

    yield start
    for server in servers:
        server.stop(timeout=0.2)


@pytest.fixture
def redsys(https_server):
    """The Redsys stand-in (tests/support/fake_redsys.py) on HTTPS: its state, with ``url``."""
    from tests.support import fake_redsys
    state = fake_redsys.new_state()
    state["url"] = https_server(fake_redsys.app(state)) + "/sis/rest/trataPeticionREST"
    return state
