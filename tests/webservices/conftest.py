"""Fixtures for the web service tests: scripted HTTPS services (tests/conftest.py's
scripted_https)."""
import pytest


@pytest.fixture
def scripted_service(scripted_https):
    """``scripted_service(answers)``: a started HTTPS ScriptedService, stopped after the test."""
    return scripted_https
