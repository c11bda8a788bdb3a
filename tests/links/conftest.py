import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """The journal on each backend: an SQLite file, or a schema of the test's own on a real
    PostgreSQL (tests/support/postgres.py)."""
    if request.param == "sqlite":
        return str(tmp_path / "payments.sqlite")
    return request.getfixturevalue("postgres_schema").url
