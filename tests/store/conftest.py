"""The store tests run on each backend: ``store_location`` is an SQLite file or the URL of a
schema of the test's own on a real PostgreSQL (tests/support/postgres.py)."""
import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """Where a store of the parameter's backend is opened (``open_store(location)``); the same
    location opened twice is the same store."""
    if request.param == "sqlite":
        return str(tmp_path / "payments.sqlite")
    return request.getfixturevalue("postgres_schema").url
