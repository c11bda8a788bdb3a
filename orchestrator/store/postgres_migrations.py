"""PostgreSQL's schema migrations: SQLite's (``migrations.py``), one for one, in its own types.

The same numbers and descriptions, so that a store's version says the same schema whichever
backend holds it; ``tests/store/test_postgres_migrations.py`` holds the two lists together
(a migration added to one and not the other fails it). Where SQLite's SQL is right here too,
the step is SQLite's own; where the types differ, the step is written again: SQLite's REAL is
8 bytes, PostgreSQL's 4 (a time in seconds needs DOUBLE PRECISION), and an amount or a payment
number may pass 2^31 (BIGINT). A PostgreSQL store has been versioned from its first day: no
store from before ``schema_version`` is looked for.

Porting a table added to SQLite later (as the outbox, 6): its migration here with the same
number, ``_same(n)`` when its SQL is plain enough for both, else ``_mirror(n, steps)``.
"""
from typing import Any, Set, Tuple

import pg8000.exceptions

from .migrations import MIGRATIONS as SQLITE_MIGRATIONS, Connection, Dialect, Migration, Step

# One lock for every migration of every store on a server (pg_advisory_xact_lock): two
# instances starting together migrate one after the other, the second finding it done.
MIGRATION_LOCK = 0x70617969   # "payi"


def _tables(db: Connection) -> Set[str]:
    return {row[0] for row in db.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema()").fetchall()}


POSTGRES = Dialect("postgresql", ("BEGIN", "SELECT pg_advisory_xact_lock(%d)" % MIGRATION_LOCK),
                   (pg8000.exceptions.DatabaseError,), _tables, adopt_legacy=False,
                   real="DOUBLE PRECISION")


def _sqlite(version: int) -> Migration:
    [migration] = [m for m in SQLITE_MIGRATIONS if m.version == version]
    return migration


def _same(version: int) -> Migration:
    """SQLite's migration ``version`` as it is."""
    return _sqlite(version)


def _mirror(version: int, steps: Tuple[Step, ...]) -> Migration:
    """SQLite's migration ``version`` with these steps: same number, same description."""
    return Migration(version, _sqlite(version).description, steps)


def _step(version: int, index: int) -> Any:
    return _sqlite(version).steps[index]


MIGRATIONS: Tuple[Migration, ...] = (
    _mirror(1, (
        """CREATE TABLE payments (
            id TEXT PRIMARY KEY,
            created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            call_uuid TEXT, tenant TEXT, flow TEXT, reference TEXT,
            amount_minor BIGINT NOT NULL, currency TEXT NOT NULL,
            gateway TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
            brand TEXT, bin TEXT, last4 TEXT,
            status TEXT NOT NULL,
            auth_code TEXT, transaction_id TEXT, decline_code TEXT, decline_reason TEXT,
            error_kind TEXT,
            needs_reconciliation INTEGER NOT NULL DEFAULT 0
        )""",
    )),
    _same(2),
    _same(3),
    _mirror(4, (
        "ALTER TABLE payments ADD COLUMN number BIGINT",
        _step(4, 1), _step(4, 2), _step(4, 3),
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        _step(4, 5), _step(4, 6), _step(4, 7),
    )),
    _mirror(5, (
        """CREATE TABLE agent_sessions (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL, agent TEXT, call_uuid TEXT NOT NULL,
            instance TEXT, node TEXT,
            mode TEXT NOT NULL, flow TEXT NOT NULL,
            amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, reference TEXT NOT NULL,
            state TEXT NOT NULL, fields TEXT NOT NULL, result TEXT,
            created TEXT NOT NULL, updated TEXT NOT NULL, written DOUBLE PRECISION NOT NULL
        )""",
        _step(5, 1), _step(5, 2),
    )),
    _mirror(6, (
        """CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL,
            body TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt DOUBLE PRECISION NOT NULL, last_error TEXT, finished DOUBLE PRECISION,
            claimed_by TEXT, claimed_until DOUBLE PRECISION
        )""",
        _step(6, 1), _step(6, 2),
    )),
    _mirror(7, (
        """CREATE TABLE instances (
            name TEXT PRIMARY KEY, inbox TEXT NOT NULL,
            started DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL, nodes TEXT NOT NULL, taken_over_by TEXT
        )""",
        """CREATE TABLE calls (
            call_uuid TEXT PRIMARY KEY, instance TEXT NOT NULL, tenant TEXT NOT NULL,
            arrived DOUBLE PRECISION NOT NULL
        )""",
        _step(7, 2),
    )),
    _same(8),
    _same(9),
    _mirror(10, (
        """CREATE TABLE payment_links (
            token TEXT PRIMARY KEY, payment_id TEXT NOT NULL UNIQUE, link TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL
        )""",
    )),
    _same(11),
    _mirror(12, (
        """CREATE TABLE refunds (
            id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, kind TEXT NOT NULL,
            request_key TEXT NOT NULL, gateway_key TEXT NOT NULL UNIQUE,
            amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
            reason TEXT, refund_ref TEXT, refusal TEXT, error_kind TEXT, note TEXT,
            tenant TEXT NOT NULL, agent TEXT,
            needs_reconciliation INTEGER NOT NULL DEFAULT 0,
            created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL
        )""",
        _step(12, 1), _step(12, 2),
        "ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE payments ADD COLUMN refund_held_minor BIGINT NOT NULL DEFAULT 0",
    )),
    _mirror(13, (
        """CREATE TABLE card_tokens (
            id TEXT PRIMARY KEY, tenant TEXT NOT NULL, customer TEXT NOT NULL,
            gateway TEXT NOT NULL, gateway_token TEXT NOT NULL, network_reference TEXT,
            brand TEXT NOT NULL, last4 TEXT NOT NULL, expiry_month TEXT NOT NULL,
            expiry_year TEXT NOT NULL, payment_id TEXT, created DOUBLE PRECISION NOT NULL,
            deleted DOUBLE PRECISION, deleted_by TEXT
        )""",
        _step(13, 1),
    )),
)
LATEST = MIGRATIONS[-1].version
