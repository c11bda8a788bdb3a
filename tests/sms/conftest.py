"""Fixtures for the SMS tests: scripted HTTPS providers (tests/conftest.py's scripted_https)."""
import pytest


@pytest.fixture
def scripted_provider(scripted_https):
    return scripted_https
