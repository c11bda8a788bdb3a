"""Versioned schema migrations: a fresh store, stores from before versioning (the original
first schema with BIN and last four apart, then the one before gateway_code), a store newer
than the code, and a migration that fails, each opened as the service opens its store."""
import os
import sqlite3
import subprocess
import sys

import pytest
import yaml

from orchestrator.store import SCHEMA_VERSION, PaymentStore, StoreError
from orchestrator.store import migrations
from tests.support.cards import make_card
from tests.support.service import FLOWS, REPO, ServiceOnSimulator

PAYING = [{"wait_prompt": 3}, {"press": "4111111111111111#"}, {"wait_prompt": 4},
          {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]

# The first schema, as the store file once committed at the repository's root had it.
FIRST_SCHEMA = """CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    call_uuid TEXT, tenant TEXT, flow TEXT, reference TEXT,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    gateway TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    brand TEXT, bin TEXT, last4 TEXT,
    status TEXT NOT NULL,
    auth_code TEXT, transaction_id TEXT, decline_code TEXT, decline_reason TEXT, error_kind TEXT,
    needs_reconciliation INTEGER NOT NULL DEFAULT 0
)"""
# The schema of the first release of the code (card as one masked value, no gateway_code).
SECOND_SCHEMA = FIRST_SCHEMA.replace("brand TEXT, bin TEXT, last4 TEXT,", "brand TEXT, card TEXT,")


def old_store(path, schema, row):
    db = sqlite3.connect(str(path))
    db.execute(schema)
    db.execute("INSERT INTO payments (%s) VALUES (%s)" % (", ".join(row), ", ".join("?" for _ in row)),
               list(row.values()))
    db.commit()
    db.close()


def first_schema_row(**extra):
    return dict({"id": "p-1", "created": 1.0, "updated": 2.0, "call_uuid": "c-1", "tenant": "acme",
                 "flow": "card_payment", "reference": "INV-1", "amount_minor": 1250,
                 "currency": "EUR", "gateway": "sandbox", "idempotency_key": "c-1:1",
                 "brand": "visa", "bin": "411111", "last4": "1111", "status": "approved",
                 "auth_code": "A1B2C3", "transaction_id": "sbx_1"}, **extra)


def versions(path):
    db = sqlite3.connect(str(path))
    try:
        return [row[0] for row in db.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        db.close()


def test_a_fresh_store_gets_every_migration_in_order(tmp_path):
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    assert store.migrations_applied == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] == list(range(1, SCHEMA_VERSION + 1))
    assert store.schema_version == SCHEMA_VERSION
    assert len(store.tag) == 4 and store.tag.isdigit()
    store.close()
    reopened = PaymentStore(str(tmp_path / "payments.sqlite"))
    assert reopened.migrations_applied == [] and reopened.tag == store.tag   # the tag stays


def test_a_store_with_the_original_first_schema_is_upgraded_and_keeps_its_payments(tmp_path):
    path = tmp_path / "payments.sqlite"
    old_store(path, FIRST_SCHEMA, first_schema_row())
    store = PaymentStore(str(path))
    assert store.migrations_applied == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13] and store.schema_version == SCHEMA_VERSION
    row = store.get("p-1")
    assert row["card"] == "411111******1111" and row["status"] == "approved"
    assert row["auth_code"] == "A1B2C3" and row["gateway_code"] is None and row["number"] is None
    assert row["refunded_minor"] == 0          # migration 12: nothing refunded of an old payment
    # and the store works for new payments: the "no column named card" of an old file is gone
    new = store.begin(amount_minor=990, currency="EUR", gateway="sandbox", idempotency_key="k-2",
                      summary=make_card().summary, number=store.next_number())
    assert store.get(new)["card"] == "411111******1111"
    store.close()
    assert versions(path) == list(range(1, SCHEMA_VERSION + 1))
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT bin, last4 FROM payments WHERE id = 'p-1'").fetchone() == (None, None)
    db.close()
    # BIN and last four kept apart sat side by side as ten card digits: not in the file now
    assert b"4111111111" not in path.read_bytes()


def test_a_store_from_the_first_release_is_upgraded(tmp_path):
    path = tmp_path / "payments.sqlite"
    row = {k: v for k, v in first_schema_row().items() if k not in ("bin", "last4")}
    old_store(path, SECOND_SCHEMA, dict(row, card="555555******4444"))
    store = PaymentStore(str(path))
    assert store.migrations_applied == list(range(3, SCHEMA_VERSION + 1))
    assert store.get("p-1")["card"] == "555555******4444"


def test_a_store_newer_than_the_code_stops_with_the_reason(tmp_path):
    path = tmp_path / "payments.sqlite"
    PaymentStore(str(path)).close()
    db = sqlite3.connect(str(path))
    db.execute("INSERT INTO schema_version VALUES (?, 0, 'from a later release')", (SCHEMA_VERSION + 3,))
    db.commit()
    db.close()
    with pytest.raises(StoreError) as raised:
        PaymentStore(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "schema is version %d, newer than this orchestrator knows (%d)" % (
        SCHEMA_VERSION + 3, SCHEMA_VERSION) in message


def test_a_payments_table_it_does_not_recognise_stops_with_the_reason(tmp_path):
    path = tmp_path / "payments.sqlite"
    db = sqlite3.connect(str(path))
    db.execute("CREATE TABLE payments (id TEXT, something TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not recognise .*columns: id, something"):
        PaymentStore(str(path))


def test_a_file_that_is_not_a_database_stops_with_the_reason(tmp_path):
    path = tmp_path / "payments.sqlite"
    path.write_bytes(b"this is not a database, it is a note " * 200)
    with pytest.raises(StoreError, match="payment store .*payments.sqlite cannot be used"):
        PaymentStore(str(path))


def test_a_failing_migration_is_rolled_back_and_named(tmp_path):
    path = str(tmp_path / "payments.sqlite")
    PaymentStore(path).close()
    broken = migrations.MIGRATIONS + (migrations.Migration(
        SCHEMA_VERSION + 1, "a step that fails half way", (
            "ALTER TABLE payments ADD COLUMN half_way TEXT",
            "ALTER TABLE no_such_table ADD COLUMN x TEXT")),)
    db = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(migrations.SchemaError, match="migration %d .*a step that fails half way"
                       % (SCHEMA_VERSION + 1)):
        migrations.migrate(db, "test store", migrations=broken)
    columns = {row[1] for row in db.execute("PRAGMA table_info(payments)")}
    assert "half_way" not in columns and migrations.current_version(db) == SCHEMA_VERSION
    db.close()


def test_the_service_upgrades_an_old_store_at_start_and_takes_payments_into_it(tmp_path):
    old_store(tmp_path / "payments.sqlite", FIRST_SCHEMA, first_schema_row())
    world = ServiceOnSimulator(tmp_path, {"flows": {"default": "card_payment"}}, sandbox=True)
    try:
        result = world.run_call(PAYING, {"pay_amount": "990", "pay_currency": "EUR",
                                         "pay_reference": "INV-2"}, timeout=60)
        assert result.outcome is not None
        rows = {r["id"]: r for r in world.service.store.list()}
        assert rows.pop("p-1")["card"] == "411111******1111"
        [paid] = rows.values()
        assert paid["status"] == "approved" and paid["amount_minor"] == 990 and paid["number"] == 1
        assert world.service.store.schema_version == SCHEMA_VERSION
    finally:
        world.stop()


def test_the_service_refuses_a_store_newer_than_the_code_at_start(tmp_path):
    """``orchestrator run`` stops start-up with exit code 2 and the reason, no traceback."""
    store_path = tmp_path / "payments.sqlite"
    old_store(store_path, FIRST_SCHEMA, first_schema_row())
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": 0}, "http": {"enabled": False},
        # the flows that need no gateway: run refuses a flow naming one the config lacks
        "flows": {"directory": FLOWS, "names": ["welcome"]}, "store": {"path": "payments.sqlite"}}))
    db = sqlite3.connect(str(store_path))
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL, "
               "description TEXT NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (99, 0, 'from a later release')")
    db.commit()
    db.close()
    result = subprocess.run([sys.executable, "-m", "orchestrator", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 2, result.stderr
    assert "store error:" in result.stderr
    assert "schema is version 99, newer than this orchestrator knows" in result.stderr
    assert "Traceback" not in result.stderr
