"""Where payment outcomes, agent sessions and status callbacks are kept, masked data only.

The payment journal (``journal.py``), the sessions table (``sessions.py``) and the status
callbacks' outbox (``orchestrator/callbacks/outbox.py``, migration 6) are written once
over a small backend interface (``backend.py``): an embedded SQLite file by default
(``sqlite.py``), PostgreSQL when ``store.url`` names one (``postgres.py``), each with its
numbered migrations (``migrations.py``, ``postgres_migrations.py``: the same versions).
``open_store`` opens the one the config names.
"""
from typing import Optional

from .errors import StoreCannotOpen, StoreConflict, StoreError, StoreTimeout, StoreUnavailable
from .journal import COLUMNS, OUTCOME_FIELDS, STATUSES, MaskedCard, PaymentRow, PaymentStore
from .migrations import LATEST as SCHEMA_VERSION

__all__ = ["PaymentStore", "PaymentRow", "MaskedCard", "StoreError", "StoreCannotOpen",
           "StoreConflict", "StoreTimeout", "StoreUnavailable", "SCHEMA_VERSION", "STATUSES",
           "COLUMNS", "OUTCOME_FIELDS", "open_store", "is_database_url"]


def is_database_url(location: str) -> bool:
    """Whether ``location`` names a database server (``postgresql://...``), not a file."""
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str, *, password: Optional[str] = None, pool_size: int = 4,
               timeout: float = 5.0, retries: int = 3,
               retry_backoff: float = 0.2) -> PaymentStore:
    """The journal at ``location``: a ``postgresql://`` URL (``password`` over the URL's),
    else an SQLite path."""
    if not is_database_url(location):
        return PaymentStore(location)
    from .postgres import PostgresBackend   # the driver is needed only for a server
    backend = PostgresBackend(location, password=password, pool_size=pool_size, timeout=timeout,
                              retries=retries, retry_backoff=retry_backoff)
    return PaymentStore(backend=backend)
