"""Fixtures for the web service tests: a loopback TLS certificate and scripted services."""
import pytest

from tests.support.tls import make_certificate
from tests.support.web_service import ScriptedService


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls-crm"))


@pytest.fixture
def scripted_service(tls_files):
    """``scripted_service(answers)``: a started HTTPS ScriptedService, stopped after the test."""
    started = []

    def start(answers):
        service = ScriptedService(answers, tls_files).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
