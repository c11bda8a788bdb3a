"""Numbered schema migrations of the payment store, applied in order when a store is opened.

A store says which migrations it has had in ``schema_version`` (one row per migration: its
number, when, what it did). Opening a store applies each migration it lacks, each in its own
transaction, so a failure leaves the store at the last version that completed and says which
step failed. A store whose version is newer than this code's stops start-up: the code cannot
know what a newer schema means, and writing to it could lose what the newer code keeps.

Files written before versioning (no ``schema_version`` table, SQLite only: every other
backend starts versioned) are recognised by their columns and adopted at the version they
match; a layout that matches none stops start-up too.

These are SQLite's migrations; PostgreSQL's (``postgres_migrations.py``) mirror them one for
one, same numbers and descriptions, in its own types (a test holds the two lists together): a
store's version means the same schema whichever backend holds it. The runner (``migrate``) is
the same for both; what differs is a ``Dialect``: how a migration's transaction starts (and
keeps a second process from migrating at the same time), which errors are the driver's, how
the store's tables are listed, and whether files from before versioning are looked for. A step
is SQL, or a small function over the connection (``?`` placeholders either way). A new
migration is one more entry at the end of both lists; an entry is never changed once released.
"""
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Protocol, Sequence, Set, Tuple, Type, Union

from .errors import StoreError


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> List[Any]: ...


class Connection(Protocol):
    """What a migration needs of a connection: sqlite3's, or the PostgreSQL backend's adapter."""

    def execute(self, sql: str, args: Sequence[Any] = ...) -> Cursor: ...


Step = Union[str, Callable[[Connection], None]]


@dataclass(frozen=True)
class Dialect:
    name: str
    begin: Tuple[str, ...]                      # statements that open a migration's transaction
    errors: Tuple[Type[BaseException], ...]     # what the driver raises for a failed statement
    tables: Callable[[Connection], Set[str]]    # the store's tables
    adopt_legacy: bool                          # look for stores from before schema_version
    real: str = "REAL"                          # a float wide enough for a time in seconds


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
    # What an agent's payment session is, for another instance to read (agent/durable.py
    # writes it, store/sessions.py reads it): masked values only, as the API shows them.
    Migration(5, "agent_sessions: payment sessions, masked, readable by every instance", (
        """CREATE TABLE agent_sessions (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL, agent TEXT, call_uuid TEXT NOT NULL,
            instance TEXT, node TEXT,
            mode TEXT NOT NULL, flow TEXT NOT NULL,
            amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, reference TEXT NOT NULL,
            state TEXT NOT NULL, fields TEXT NOT NULL, result TEXT,
            created TEXT NOT NULL, updated TEXT NOT NULL, written REAL NOT NULL
        )""",
        "CREATE INDEX agent_sessions_call ON agent_sessions (call_uuid)",
        "CREATE INDEX agent_sessions_state ON agent_sessions (state, tenant)",
    )),
    # Status callbacks and session notices waiting for their receivers (callbacks/outbox.py):
    # each row the exact signed body, its tenant's seq, where its delivery stands and which
    # instance holds it for now (claimed_by, claimed_until), so instances sharing the store
    # never send one row at once and a restart sends what was left.
    Migration(6, "outbox: status callbacks and session notices, kept until delivered", (
        """CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
            body TEXT NOT NULL, created REAL NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL, last_error TEXT, finished REAL,
            claimed_by TEXT, claimed_until REAL
        )""",
        "CREATE UNIQUE INDEX outbox_seq ON outbox (tenant, seq)",
        "CREATE INDEX outbox_due ON outbox (tenant, state, next_attempt)",
    )),
    # Instances sharing one store (orchestrator/cluster): each one's heartbeat, the channel
    # it is reached on and whether it is up, stopped or dead (taken over by a survivor), and
    # the calls each holds on its outbound socket, so that a request is sent to the holder
    # and a dead instance's unsettled payments are found (store/instances.py).
    Migration(7, "instances and calls: which orchestrator instance holds which call", (
        """CREATE TABLE instances (
            name TEXT PRIMARY KEY, inbox TEXT NOT NULL,
            started REAL NOT NULL, heartbeat REAL NOT NULL,
            state TEXT NOT NULL, nodes TEXT NOT NULL, taken_over_by TEXT
        )""",
        """CREATE TABLE calls (
            call_uuid TEXT PRIMARY KEY, instance TEXT NOT NULL, tenant TEXT NOT NULL,
            arrived REAL NOT NULL
        )""",
        "CREATE INDEX calls_instance ON calls (instance)",
    )),
    # The code the caller was sent by SMS after paying (engine/steps/send_sms.py): six random
    # digits, no card data; the CRM or an agent can quote it back to find the payment.
    Migration(8, "payments.confirmation_code: the code sent to the caller by SMS", (
        "ALTER TABLE payments ADD COLUMN confirmation_code TEXT",
    )),
    # What the payment is for, as its flow attached it (authorize's details: the invoices a
    # collections call paid, the CRM's customer id): compact JSON, checked by
    # orchestrator/payment_details.py (no item with more than 12 digits: never a card number).
    Migration(9, "payments.details: what the payment is for (invoices, customer), bounded", (
        "ALTER TABLE payments ADD COLUMN details TEXT",
    )),
    # Pay by link (engine/steps/send_payment_link.py): the unguessable token a texted link
    # carries, naming its payment (status link_sent until the gateway's webhook settles it),
    # the payment_links entry it was made by, and when it stops being payable.
    Migration(10, "payment_links: pay-by-link tokens, each naming one payment, with its expiry", (
        """CREATE TABLE payment_links (
            token TEXT PRIMARY KEY, payment_id TEXT NOT NULL UNIQUE, link TEXT NOT NULL,
            created REAL NOT NULL, expires REAL NOT NULL
        )""",
    )),
    # The caller's answer to the satisfaction survey after paying (engine/steps/survey.py):
    # 1 to 5, or nothing when the caller keyed none or was not asked.
    Migration(11, "payments.survey_rating: the caller's 1 to 5 rating after paying", (
        "ALTER TABLE payments ADD COLUMN survey_rating INTEGER",
    )),
    # Refunds and voids of approved payments (store/refunds.py): one row per request, under
    # the client's request key (a retry or a double click finds it) and a gateway key of its
    # own; the payment keeps what was refunded and what is held by requests not yet settled
    # (so two requests at once can never together give back more than was charged).
    Migration(12, "refunds: refunds and voids of a payment; payments.refunded_minor, held", (
        """CREATE TABLE refunds (
            id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, kind TEXT NOT NULL,
            request_key TEXT NOT NULL, gateway_key TEXT NOT NULL UNIQUE,
            amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
            reason TEXT, refund_ref TEXT, refusal TEXT, error_kind TEXT, note TEXT,
            tenant TEXT NOT NULL, agent TEXT,
            needs_reconciliation INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, updated REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX refunds_request ON refunds (payment_id, request_key)",
        "CREATE INDEX refunds_unsettled ON refunds (status, needs_reconciliation)",
        "ALTER TABLE payments ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE payments ADD COLUMN refund_held_minor INTEGER NOT NULL DEFAULT 0",
    )),
    # Cards on file (store/card_tokens.py): the gateway's token and what may be shown of the
    # card (brand, last four, expiry), per tenant and customer reference; never a number or
    # a security code. A deleted card keeps its row (deleted, by whom) for the audit trail.
    Migration(13, "card_tokens: cards kept on file as the gateway's tokens", (
        """CREATE TABLE card_tokens (
            id TEXT PRIMARY KEY, tenant TEXT NOT NULL, customer TEXT NOT NULL,
            gateway TEXT NOT NULL, gateway_token TEXT NOT NULL, network_reference TEXT,
            brand TEXT NOT NULL, last4 TEXT NOT NULL, expiry_month TEXT NOT NULL,
            expiry_year TEXT NOT NULL, payment_id TEXT, created REAL NOT NULL,
            deleted REAL, deleted_by TEXT
        )""",
        "CREATE INDEX card_tokens_customer ON card_tokens (tenant, customer)",
    )),
)
LATEST = MIGRATIONS[-1].version

# Files from before schema_version, told apart by a column each version added.
_LEGACY_MARKERS = ((3, "gateway_code"), (2, "card"), (1, "bin"))


def current_version(db: Connection, dialect: Optional[Dialect] = None) -> Optional[int]:
    """The version recorded in ``schema_version``; None when the store has no such table."""
    if not (dialect or SQLITE).tables(db) & {"schema_version"}:
        return None
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(db: Connection, where: str, migrations: Optional[Sequence[Migration]] = None,
            dialect: Optional[Dialect] = None) -> List[int]:
    """Bring the store on ``db`` (autocommit mode) to the newest version; return the versions
    applied. ``where`` names the store in messages. ``dialect`` (SQLite's by default) says
    how a migration's transaction starts: it also keeps a second process opening the same
    store from migrating it at the same time."""
    dialect = dialect or SQLITE
    migrations = MIGRATIONS if migrations is None else migrations
    latest = migrations[-1].version
    applied: List[int] = []
    for migration in migrations:
        for statement in dialect.begin:
            db.execute(statement)
        try:
            version = _version_or_adopt(db, where, dialect)
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
            if isinstance(error, dialect.errors):
                raise SchemaError("%s: migration %d (%s) failed: %s" % (
                    where, migration.version, migration.description, error)) from None
            raise
    return applied


def _version_or_adopt(db: Connection, where: str, dialect: Dialect) -> int:
    version = current_version(db, dialect)
    if version is not None:
        return version
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied %s NOT NULL, "
               "description TEXT NOT NULL)" % dialect.real)
    if not dialect.adopt_legacy or "payments" not in dialect.tables(db):
        return 0
    columns = {row[1] for row in db.execute("PRAGMA table_info(payments)").fetchall()}
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


def _sqlite_tables(db: Connection) -> Set[str]:
    """The store's tables: with the legacy column check, the only SQLite-specific query here
    (PostgreSQL's dialect reads information_schema.tables)."""
    return {row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}


SQLITE = Dialect("sqlite", ("BEGIN IMMEDIATE",), (sqlite3.Error,), _sqlite_tables, True)
