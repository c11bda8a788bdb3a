"""The agent sessions table, on SQLite and PostgreSQL alike: the latest state wins, another
store on the same location (another instance) reads it, and nothing card-like is written."""
import pytest

from orchestrator.store import open_store
from orchestrator.store.sessions import RecordRefused, SessionTable

FIELDS = {"number": {"state": "valid", "digits": 16, "masked": "visa 411111******1111",
                     "error_type": None, "attempt": 1},
          "expiry": {"state": "typing", "digits": 2, "masked": None, "error_type": None,
                     "attempt": 1}}


def record(**changes):
    return dict({"id": "ps_0001", "tenant": "acme", "agent": "alice", "call_uuid": "c-1",
                 "instance": "host-a:101", "node": "fs1", "mode": "transfer",
                 "flow": "card_payment", "amount_minor": 1250, "currency": "EUR",
                 "reference": "INV-1", "state": "collecting", "fields": FIELDS, "result": None,
                 "created": "2026-01-02T10:00:00.000+00:00",
                 "updated": "2026-01-02T10:00:05.000+00:00"}, **changes)


def test_the_latest_state_is_what_another_instance_reads(store_location):
    mine = SessionTable(open_store(store_location).backend)
    mine.save(record())
    mine.save(record(state="approved", result={"status": "approved", "auth_code": "A1B2",
                                               "last4": "1111"}))
    mine.save(record(id="ps_0002", call_uuid="c-2", tenant="globex", agent=None))
    theirs = SessionTable(open_store(store_location).backend)
    seen = theirs.get("ps_0001")
    assert seen["state"] == "approved" and seen["result"]["auth_code"] == "A1B2"
    assert seen["fields"] == FIELDS and seen["instance"] == "host-a:101" and seen["node"] == "fs1"
    assert seen["written"] > 0 and theirs.get("ps_none") is None
    assert [r["id"] for r in theirs.list()] == ["ps_0001", "ps_0002"]
    assert [r["id"] for r in theirs.list(tenant="globex")] == ["ps_0002"]
    assert [r["id"] for r in theirs.list(states=["approved", "declined"])] == ["ps_0001"]
    mine.delete("ps_0002")
    assert theirs.get("ps_0002") is None


@pytest.mark.parametrize("where", ["fields", "result"])
def test_a_card_like_run_of_digits_is_never_written(store_location, where):
    table = SessionTable(open_store(store_location).backend)
    leaked = dict(FIELDS, number=dict(FIELDS["number"], masked="visa 4111111111111111"))
    bad = record(fields=leaked) if where == "fields" else record(
        result={"status": "approved", "auth_code": "4111111"})
    with pytest.raises(RecordRefused, match="longer than a BIN"):
        table.save(bad)
    assert table.get("ps_0001") is None


def test_a_payment_id_whose_hex_came_out_digits_is_written(store_location):
    """About one payment id in seven holds seven digits in a row in its hex (here its first and
    last groups): such a session was refused after its first answer, and no other instance saw
    the decline or the approval. A UUID is passed over; seven digits beside it still refuse."""
    table = SessionTable(open_store(store_location).backend)
    payment_id = "12345678-9a17-456d-b348-bb2798834123"
    table.save(record(state="declined", result={"status": "declined", "payment_id": payment_id,
                                                "decline_reason": "insufficient funds"}))
    assert table.get("ps_0001")["result"]["payment_id"] == payment_id
    with pytest.raises(RecordRefused, match="longer than a BIN"):
        table.save(record(state="approved", result={"status": "approved", "payment_id": payment_id,
                                                    "auth_code": "A1B2", "note": "4111111"}))
    assert table.get("ps_0001")["state"] == "declined"
