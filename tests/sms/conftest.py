"""Fixtures for the SMS tests: a loopback TLS certificate and scripted providers."""
import pytest

from tests.support.tls import make_certificate
from tests.support.web_service import ScriptedService


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls-sms"))


@pytest.fixture
def scripted_provider(tls_files):
    started = []

    def start(answers):
        service = ScriptedService(answers, tls_files).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
