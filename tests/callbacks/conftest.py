"""The outbox tests run on each backend: ``backend`` opens a store backend of the parameter's
kind (an SQLite file, or a schema of the test's own on a real PostgreSQL); ``open_backend()``
opens the same store again (as a second instance would)."""
import pytest

from orchestrator.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "payments.sqlite")
    return request.getfixturevalue("postgres_schema").url


@pytest.fixture
def open_backend(store_location):
    opened = []

    def open_one():
        store = open_store(store_location)
        opened.append(store)
        return store
    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_backend):
    return open_backend()
