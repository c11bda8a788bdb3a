"""Agent payment sessions as the store keeps them, for any instance to read.

The live session (``agent/sessions.py``) stays in the memory of the instance holding its call;
``agent/durable.py`` writes each change of it here (the latest state wins), and any instance
reads it back: what ``GET /api/v1/sessions/{id}`` answers for a session it does not hold. A
record holds what the API shows and nothing more: masked values only. ``save`` refuses a
record with a run of seven digits or more in its fields or result outside a UUID (a BIN is
six, a last four is four; the payment's id is a UUID), so a mistake upstream cannot put a card
number here.
"""
import json
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, TypedDict, cast

from orchestrator.card_numbers import digits_longer_than_a_bin

from .backend import Backend, Row
from .errors import StoreError

COLUMNS = ("id", "tenant", "agent", "call_uuid", "instance", "node", "mode", "flow",
           "amount_minor", "currency", "reference", "state", "fields", "result", "created",
           "updated", "written")


class RecordRefused(StoreError):
    """The record holds what no session record may (a card-like run of digits): not written,
    and no retry will write it."""


class SessionRecord(TypedDict):
    id: str
    tenant: str
    agent: Optional[str]
    call_uuid: str
    instance: Optional[str]        # the orchestrator instance holding the call
    node: Optional[str]            # the FreeSWITCH node holding it
    mode: str
    flow: str
    amount_minor: int
    currency: str
    reference: str
    state: str
    fields: Dict[str, Any]         # per card field: state, digits, masked, error_type, attempt
    result: Optional[Dict[str, Any]]
    created: str                   # ISO 8601, as the API shows them
    updated: str
    written: float                 # when this instance last wrote it (epoch seconds)


class SessionTable:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def save(self, record: Mapping[str, Any]) -> None:
        """Write the session's latest state (insert or replace)."""
        values = dict(record, written=time.time())
        fields = json.dumps(values["fields"], sort_keys=True)
        result = json.dumps(values["result"], sort_keys=True) if values.get("result") else None
        if digits_longer_than_a_bin(fields) or (result and digits_longer_than_a_bin(result)):
            raise RecordRefused("session %s not recorded: a run of digits longer than a BIN in its "
                             "fields or result" % values.get("id"))
        values["fields"], values["result"] = fields, result
        row = [values.get(column) for column in COLUMNS]
        statement = "INSERT INTO agent_sessions (%s) VALUES (%s) ON CONFLICT (id) DO UPDATE SET %s" % (
            ", ".join(COLUMNS), ", ".join("?" for _ in COLUMNS),
            ", ".join("%s = excluded.%s" % (c, c) for c in COLUMNS if c != "id"))
        self.backend.run(lambda tx: tx.execute(statement, row))

    def delete(self, session_id: str) -> None:
        self.backend.run(lambda tx: tx.execute("DELETE FROM agent_sessions WHERE id = ?",
                                               (session_id,)))

    def abandon_held_by(self, instance: str, states: Sequence[str], updated: str) -> int:
        """The sessions in ``states`` of an instance that died: ``error`` now (their calls went
        to the dialplan's fallback); how many."""
        def abandon(tx: Any) -> int:
            tx.execute("UPDATE agent_sessions SET state = 'error', updated = ?, written = ? "
                       "WHERE instance = ? AND state IN (%s)" % ", ".join("?" for _ in states),
                       [updated, time.time(), instance] + list(states))
            return int(tx.rowcount)
        return self.backend.run(abandon)

    def get(self, session_id: str) -> Optional[SessionRecord]:
        rows = self._select("WHERE id = ?", (session_id,))
        return rows[0] if rows else None

    def list(self, tenant: Optional[str] = None,
             states: Optional[Sequence[str]] = None) -> List[SessionRecord]:
        """Sessions, oldest first; of ``tenant`` and in ``states`` when given."""
        clauses: List[str] = []
        args: List[object] = []
        if tenant is not None:
            clauses.append("tenant = ?")
            args.append(tenant)
        if states:
            clauses.append("state IN (%s)" % ", ".join("?" for _ in states))
            args += list(states)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select(where + " ORDER BY created", args)

    def _select(self, tail: str, args: Sequence[object]) -> List[SessionRecord]:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT %s FROM agent_sessions %s" % (", ".join(COLUMNS), tail), list(args)))
        return [_record(row) for row in rows]


def _record(row: Row) -> SessionRecord:
    values = dict(zip(COLUMNS, row))
    values["fields"] = json.loads(values["fields"])
    values["result"] = json.loads(values["result"]) if values["result"] else None
    return cast(SessionRecord, values)
