"""Tests run the service the way it runs in production: on gevent, with the stdlib patched.

The gateway connectors use requests; without patching, an HTTP call would block the one
thread on which the simulator, the service and the sandbox gateway all run.

The fixtures every part of the suite shares are here; what they build is in tests/support.
"""
from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

from tests.support.postgres import Schema, start_or_find  # noqa: E402
from tests.support.service import ServiceFactory  # noqa: E402
from tests.support.switch import SwitchFactory  # noqa: E402
from tests.support.tls import make_certificate  # noqa: E402
from tests.support.web_service import ScriptedService  # noqa: E402


@pytest.fixture
def make_switch():
    """``make_switch(**options)`` -> a started simulated switch (tests/support/switch.py says
    which defaults it has); every switch made is stopped after the test."""
    factory = SwitchFactory()
    yield factory
    factory.stop_all()


@pytest.fixture
def switch(request, make_switch):
    """A started simulated switch at the suite's time scale, stopped after the test.
    ``@pytest.mark.switch(time_scale=..., faults=..., ...)`` on the test, its class or its module
    gives it other options."""
    marker = request.node.get_closest_marker("switch")
    if marker is not None and marker.args:
        raise TypeError("pytest.mark.switch takes Switch options by name, e.g. time_scale=1.0")
    return make_switch(**(marker.kwargs if marker else {}))


@pytest.fixture
def service_on_simulator(tmp_path):
    """``service_on_simulator(config=None, **options)`` -> a started ServiceOnSimulator
    (tests/support/service.py: the simulator, the Service with ``config`` and, if asked, the
    sandbox gateway), each in its own folder under ``tmp_path``; all stopped after the test."""
    factory = ServiceFactory(tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL for the session: found or started on loopback (tests/support/postgres.py
    says how; in CI a missing server fails the tests, never skips them)."""
    server = start_or_find()
    yield server
    server.stop()


@pytest.fixture
def postgres_schema(postgres_server):
    """A schema of the test's own on the session's server (``.url`` for ``store.url``), its
    connections ended and the schema dropped after the test."""
    schema = Schema(postgres_server)
    yield schema
    schema.drop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway certificate for 127.0.0.1: (certfile, keyfile), for HTTPS peers on loopback."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def scripted_https(tls_files):
    """``scripted_https(answers)``: a started HTTPS ScriptedService (a CRM, an SMS provider),
    stopped after the test."""
    started = []

    def start(answers):
        service = ScriptedService(answers, tls_files).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
