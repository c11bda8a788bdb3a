"""PostgreSQL's migrations mirror SQLite's: the same numbers and descriptions, the same tables
and columns; a fresh schema gets all of them once, even when instances open it at the same
moment; a store newer than the code and a migration that fails stop with the reason."""
import gevent
import pytest

from orchestrator.store import SCHEMA_VERSION, PaymentStore, StoreError, open_store
from orchestrator.store import migrations as sqlite_migrations
from orchestrator.store import postgres_migrations
from orchestrator.store.postgres import PostgresBackend

TABLES = ("payments", "counters", "store_meta", "schema_version", "agent_sessions", "outbox",
          "instances", "calls", "payment_links", "refunds", "card_tokens")


def test_the_two_lists_have_the_same_versions_and_descriptions():
    assert [(m.version, m.description) for m in postgres_migrations.MIGRATIONS] == \
        [(m.version, m.description) for m in sqlite_migrations.MIGRATIONS]
    assert postgres_migrations.LATEST == sqlite_migrations.LATEST == SCHEMA_VERSION


def test_both_backends_end_with_the_same_tables_and_columns(tmp_path, postgres_schema):
    sqlite = PaymentStore(str(tmp_path / "payments.sqlite"))
    open_store(postgres_schema.url).close()
    with postgres_schema.server.connect() as con:
        rows = con.run("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = :schema", schema=postgres_schema.name)
    in_postgres = {}
    for table, column in rows:
        in_postgres.setdefault(table, set()).add(column)
    assert set(in_postgres) == set(TABLES)
    for table in TABLES:
        in_sqlite = {row[1] for row in sqlite.backend._db.execute("PRAGMA table_info(%s)" % table)}
        assert in_postgres[table] == in_sqlite, table


def test_a_fresh_schema_gets_every_migration_and_keeps_its_tag(postgres_schema):
    store = open_store(postgres_schema.url)
    assert store.migrations_applied == list(range(1, SCHEMA_VERSION + 1))
    assert store.schema_version == SCHEMA_VERSION and len(store.tag) == 4 and store.tag.isdigit()
    store.close()
    again = open_store(postgres_schema.url)
    assert again.migrations_applied == [] and again.tag == store.tag


def test_instances_opening_a_fresh_schema_together_migrate_it_once(postgres_schema):
    opening = [gevent.spawn(open_store, postgres_schema.url) for _ in range(3)]
    gevent.joinall(opening, timeout=30, raise_error=True)
    stores = [g.value for g in opening]
    # each migration is its own transaction under the lock: openers may share the list out
    # (one applies 1-2, another 3-7), but every version is applied once, in order
    applied = sorted(version for store in stores for version in store.migrations_applied)
    assert applied == list(range(1, SCHEMA_VERSION + 1))
    assert all(store.migrations_applied == sorted(store.migrations_applied) for store in stores)
    assert len({store.tag for store in stores}) == 1
    with postgres_schema.server.connect() as con:
        versions = con.run("SELECT version FROM %s.schema_version ORDER BY version"
                           % postgres_schema.name)
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))


def test_a_schema_newer_than_the_code_stops_with_the_reason(postgres_schema):
    open_store(postgres_schema.url).close()
    with postgres_schema.server.connect() as con:
        con.run("INSERT INTO %s.schema_version VALUES (:v, 0, 'from a later release')"
                % postgres_schema.name, v=SCHEMA_VERSION + 3)
    with pytest.raises(StoreError) as raised:
        open_store(postgres_schema.url)
    assert "schema is version %d, newer than this orchestrator knows (%d)" % (
        SCHEMA_VERSION + 3, SCHEMA_VERSION) in str(raised.value)
    assert "postgresql://" in str(raised.value)


def test_a_failing_migration_is_rolled_back_and_named(postgres_schema):
    open_store(postgres_schema.url).close()
    broken = postgres_migrations.MIGRATIONS + (sqlite_migrations.Migration(
        SCHEMA_VERSION + 1, "a step that fails half way", (
            "ALTER TABLE payments ADD COLUMN half_way TEXT",
            "ALTER TABLE no_such_table ADD COLUMN x TEXT")),)
    with pytest.raises(sqlite_migrations.SchemaError, match="migration %d .*a step that fails "
                       "half way.*no_such_table" % (SCHEMA_VERSION + 1)):
        PostgresBackend(postgres_schema.url, migrations=broken)
    with postgres_schema.server.connect() as con:
        columns = {c for (c,) in con.run(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
            "AND table_name = 'payments'", s=postgres_schema.name)}
        version = con.run("SELECT MAX(version) FROM %s.schema_version" % postgres_schema.name)
    assert "half_way" not in columns and version == [[SCHEMA_VERSION]]
