"""Which orchestrator instances share a store, whether each is alive, and which calls it holds.

Written by ``orchestrator/cluster``: every instance beats its row in ``instances`` (its name,
the notification channel it is reached on, the FreeSWITCH nodes it is connected to, when it
last beat) and writes a row in ``calls`` for each call that reaches its outbound socket,
deleted when the call ends. An instance that stops cleanly marks itself ``stopped``; one whose
heartbeat is older than ``dead_after`` is *dead*, and the first survivor to ``claim_dead`` it
(one UPDATE that only one instance can win) takes over: its calls' unsettled payments are
reconciled, then its rows forgotten. Names and channels only: no card data, no amounts.
"""
import json
import time
from typing import Iterable, List, Optional, Sequence, TypedDict

from .backend import Backend, Transaction

UP, STOPPED, DEAD = "up", "stopped", "dead"
_COLUMNS = ("name", "inbox", "started", "heartbeat", "state", "nodes", "taken_over_by")


class InstanceRow(TypedDict):
    name: str
    inbox: str                 # the channel its relay listens on
    started: float
    heartbeat: float           # epoch seconds of its last beat
    state: str                 # up, stopped, dead
    nodes: List[str]           # the FreeSWITCH nodes it was connected to at its last beat
    taken_over_by: Optional[str]


class InstanceTable:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- instances -------------------------------------------------------------------------
    def beat(self, name: str, inbox: str, started: float, nodes: Sequence[str],
             now: Optional[float] = None) -> None:
        """This instance is alive now (insert or refresh its row; ``up`` again after a stop)."""
        now = time.time() if now is None else now
        row = (name, inbox, started, now, UP, json.dumps(sorted(nodes)), None)
        self.backend.run(lambda tx: tx.execute(
            "INSERT INTO instances (%s) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
            "SET inbox = excluded.inbox, started = excluded.started, heartbeat = excluded.heartbeat, "
            "state = excluded.state, nodes = excluded.nodes, taken_over_by = NULL"
            % ", ".join(_COLUMNS), row))

    def stopped(self, name: str) -> None:
        self.backend.run(lambda tx: tx.execute(
            "UPDATE instances SET state = ? WHERE name = ?", (STOPPED, name)))

    def get(self, name: str) -> Optional[InstanceRow]:
        rows = self._select("WHERE name = ?", (name,))
        return rows[0] if rows else None

    def all(self) -> List[InstanceRow]:
        return self._select("ORDER BY name", ())

    def claim_dead(self, by: str, dead_after: float, now: Optional[float] = None) -> List[str]:
        """Mark ``dead`` every ``up`` instance silent for ``dead_after`` seconds; the names
        this call marked (another survivor's claim of the same one finds it no longer up)."""
        now = time.time() if now is None else now
        cutoff = now - dead_after

        def claim(tx: Transaction) -> List[str]:
            silent = [str(r[0]) for r in tx.execute(
                "SELECT name FROM instances WHERE state = ? AND heartbeat < ? AND name <> ?",
                (UP, cutoff, by))]
            won = []
            for name in silent:
                tx.execute("UPDATE instances SET state = ?, taken_over_by = ? "
                           "WHERE name = ? AND state = ? AND heartbeat < ?",
                           (DEAD, by, name, UP, cutoff))
                if tx.rowcount == 1:
                    won.append(name)
            return won
        return self.backend.run(claim)

    def prune(self, older_than: float, now: Optional[float] = None) -> int:
        """Forget instances stopped or dead for ``older_than`` seconds that hold no call (each
        start is a new instance: without this the table would grow by one row a restart)."""
        cutoff = (time.time() if now is None else now) - older_than

        def forget(tx: Transaction) -> int:
            tx.execute("DELETE FROM instances WHERE state IN (?, ?) AND heartbeat < ? AND NOT "
                       "EXISTS (SELECT 1 FROM calls c WHERE c.instance = instances.name)",
                       (STOPPED, DEAD, cutoff))
            return int(tx.rowcount)
        return self.backend.run(forget)

    def taken_over_by(self, by: str) -> List[str]:
        """The dead instances ``by`` claimed whose calls are still recorded."""
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT DISTINCT i.name FROM instances i JOIN calls c ON c.instance = i.name "
            "WHERE i.state = ? AND i.taken_over_by = ? ORDER BY i.name", (DEAD, by)))
        return [str(r[0]) for r in rows]

    def _select(self, tail: str, args: Sequence[object]) -> List[InstanceRow]:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT %s FROM instances %s" % (", ".join(_COLUMNS), tail), list(args)))
        found: List[InstanceRow] = []
        for row in rows:
            values = dict(zip(_COLUMNS, row))
            found.append(InstanceRow(
                name=str(values["name"]), inbox=str(values["inbox"]),
                started=float(values["started"]), heartbeat=float(values["heartbeat"]),
                state=str(values["state"]), nodes=list(json.loads(str(values["nodes"]))),
                taken_over_by=values["taken_over_by"]))
        return found

    # -- calls -----------------------------------------------------------------------------
    def call_arrived(self, call_uuid: str, instance: str, tenant: str,
                     now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        self.backend.run(lambda tx: tx.execute(
            "INSERT INTO calls (call_uuid, instance, tenant, arrived) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (call_uuid) DO UPDATE SET instance = excluded.instance, "
            "tenant = excluded.tenant, arrived = excluded.arrived",
            (call_uuid, instance, tenant, now)))

    def call_ended(self, call_uuid: str, instance: str) -> None:
        """Forget the call, unless another instance has taken it since (the dialplan's next)."""
        self.backend.run(lambda tx: tx.execute(
            "DELETE FROM calls WHERE call_uuid = ? AND instance = ?", (call_uuid, instance)))

    def holder_of(self, call_uuid: str) -> Optional[str]:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT instance FROM calls WHERE call_uuid = ?", (call_uuid,)))
        return str(rows[0][0]) if rows else None

    def calls_of(self, instance: str) -> List[str]:
        rows = self.backend.run(lambda tx: tx.execute(
            "SELECT call_uuid FROM calls WHERE instance = ? ORDER BY arrived", (instance,)))
        return [str(r[0]) for r in rows]

    def forget_calls(self, instance: str, call_uuids: Iterable[str]) -> None:
        uuids = list(call_uuids)

        def forget(tx: Transaction) -> None:
            for uuid in uuids:
                tx.execute("DELETE FROM calls WHERE call_uuid = ? AND instance = ?",
                           (uuid, instance))
        self.backend.run(forget)
