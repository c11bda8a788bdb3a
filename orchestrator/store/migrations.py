"""Numbered schema migrations of the payment store, applied in order when a store is opened.

A store says which migrations it has had in ``schema_version`` (one row per migration: its
number, when, what it did). Opening a store applies each migration it lacks, each in its own
transaction, so a failure leaves the store at the last version that completed and says which
step failed. A store whose version is newer than this code's stops start-up: the code cannot
know what a newer schema means, and writing to it could lose what the newer code keeps.

Files written before versioning (no ``schema_version`` table, SQLite only: every other
backend starts versioned) are recognised by their columns and adopted at the version they
match; a layout that matches none stops start-up too.

Backend-neutral on purpose (a later backend is PostgreSQL): a migration is plain SQL both
accept (CREATE TABLE, ALTER TABLE ... ADD COLUMN, UPDATE, CREATE INDEX) or, where the two
would need different SQL, a small function over the same DB-API connection. A new migration
is one more entry at the end of ``MIGRATIONS``; an entry is never changed once released.
"""
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Set, Tuple, Union

from .errors import StoreError

Connection = sqlite3.Connection
Step = Union[str, Callable[[Connection], None]]


class SchemaError(StoreError):
    """The store's schema cannot be used by this code (newer, unknown, or a failed step)."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: Tuple[Step, ...]


def _store_tag(db: Connection) -> None:
    """Four random digits naming this store: the first four of every Redsys order number it
    allocates (``payments/gateways/redsys.py``), so a store made anew after one was lost does
    not start again on the orders the lost one used."""
    db.execute("INSERT INTO store_meta (name, value) VALUES ('tag', ?)",
               ("%04d" % secrets.randbelow(10000),))


MIGRATIONS: Tuple[Migration, ...] = (
    Migration(1, "payments: the first schema (brand, BIN and last four in their own columns)", (
        """CREATE TABLE payments (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            call_uuid TEXT, tenant TEXT, flow TEXT, reference TEXT,
            amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
            gateway TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
            brand TEXT, bin TEXT, last4 TEXT,
            status TEXT NOT NULL,
            auth_code TEXT, transaction_id TEXT, decline_code TEXT, decline_reason TEXT,
            error_kind TEXT,
            needs_reconciliation INTEGER NOT NULL DEFAULT 0
        )""",
    )),
    # Kept apart, BIN and last four sit side by side in the file as a run of ten card digits;
    # one masked value does not. The old columns stay (dropping a column is not portable to
    # every SQLite a user may have) but are emptied.
    Migration(2, "payments.card: the card summary as one masked value", (
        "ALTER TABLE payments ADD COLUMN card TEXT",
        "UPDATE payments SET card = bin || '******' || last4 "
        "WHERE card IS NULL AND bin IS NOT NULL AND last4 IS NOT NULL",
        "UPDATE payments SET bin = NULL, last4 = NULL",
    )),
    Migration(3, "payments.gateway_code: the gateway's own decline code, checked", (
        "ALTER TABLE payments ADD COLUMN gateway_code TEXT",
    )),
    Migration(4, "payment numbers, the store's tag, reconciliation notes, unsettled index", (
        "ALTER TABLE payments ADD COLUMN number INTEGER",
        "ALTER TABLE payments ADD COLUMN reconcile_note TEXT",
        "CREATE UNIQUE INDEX payments_number ON payments (number)",
        "CREATE INDEX payments_unsettled ON payments (status, needs_reconciliation)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO counters (name, value) VALUES ('payment_number', 0)",
        "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        _store_tag,
    )),
)
LATEST = MIGRATIONS[-1].version

# Files from before schema_version, told apart by a column each version added.
_LEGACY_MARKERS = ((3, "gateway_code"), (2, "card"), (1, "bin"))


def current_version(db: Connection) -> Optional[int]:
    """The version recorded in ``schema_version``; None when the store has no such table."""
    if not _tables(db) & {"schema_version"}:
        return None
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(db: Connection, where: str, begin: str = "BEGIN IMMEDIATE",
            migrations: Sequence[Migration] = MIGRATIONS) -> List[int]:
    """Bring the store on ``db`` (autocommit mode) to the newest version; return the versions
    applied. ``where`` names the store in messages. ``begin`` starts a transaction that also
    keeps a second process opening the same store from migrating it at the same time."""
    latest = migrations[-1].version
    applied: List[int] = []
    for migration in migrations:
        db.execute(begin)
        try:
            version = _version_or_adopt(db, where)
            if version > latest:
                raise SchemaError(
                    "%s: the store's schema is version %d, newer than this orchestrator knows "
                    "(%d): run the release that wrote it (or a newer one), or use another store"
                    % (where, version, latest))
            if version >= migration.version:
                db.execute("COMMIT")
                continue
            if version != migration.version - 1:
                raise SchemaError("%s: the store is at version %d and migration %d needs %d"
                                  % (where, version, migration.version, migration.version - 1))
            for step in migration.steps:
                if callable(step):
                    step(db)
                else:
                    db.execute(step)
            _record(db, migration.version, migration.description)
            db.execute("COMMIT")
            applied.append(migration.version)
        except BaseException as error:
            db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise SchemaError("%s: migration %d (%s) failed: %s" % (
                    where, migration.version, migration.description, error)) from None
            raise
    return applied


def _version_or_adopt(db: Connection, where: str) -> int:
    version = current_version(db)
    if version is not None:
        return version
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL, "
               "description TEXT NOT NULL)")
    if "payments" not in _tables(db):
        return 0
    columns = {row[1] for row in db.execute("PRAGMA table_info(payments)")}
    for legacy, marker in _LEGACY_MARKERS:
        if marker in columns:
            for earlier in range(1, legacy + 1):
                _record(db, earlier, "found in a store from before schema versions")
            return legacy
    raise SchemaError("%s: the store has a payments table this orchestrator does not recognise "
                      "(columns: %s)" % (where, ", ".join(sorted(columns))))


def _record(db: Connection, version: int, description: str) -> None:
    db.execute("INSERT INTO schema_version (version, applied, description) VALUES (?, ?, ?)",
               (version, time.time(), description))


def _tables(db: Connection) -> Set[str]:
    """The store's tables: with the legacy column check, the only SQLite-specific query here
    (another backend reads its catalogue, e.g. information_schema.tables)."""
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
