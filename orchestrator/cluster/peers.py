"""This instance's heartbeat, and its view of the other instances sharing the store.

Every ``interval`` seconds one greenlet writes this instance's row (``store/instances.py``:
its channel, its connected FreeSWITCH nodes), reads every row, and claims each instance whose
heartbeat is older than ``dead_after`` (once it has itself beaten without a break for
``dead_after``: after an outage of the store every heartbeat is old, and the others must be
given the time to beat again before any is judged); ``on_dead(name)`` hears each it won (the takeover,
``takeover.py``) and ``on_gone(name)`` each peer it sees stop being alive (the relay ends its
watchers). A store that does not answer is logged once per outage; the view keeps its last
rows, and a peer is judged by the age of its heartbeat against this instance's clock (the
clocks of the instances must agree within a fraction of ``dead_after``: NTP does).
"""
import logging
import time
from typing import Callable, Dict, List, Optional, Sequence

import gevent

from orchestrator.store.errors import StoreError
from orchestrator.store.instances import DEAD, STOPPED, UP, InstanceRow, InstanceTable

log = logging.getLogger(__name__)
INTERVAL, DEAD_AFTER = 2.0, 10.0
FORGET_AFTER = 86400.0       # a stopped or dead instance with no calls left is forgotten then
PRUNE_EVERY = 100            # beats between two prunes


class PeerView:
    def __init__(self, table: InstanceTable, instance: str, inbox: str,
                 nodes: Callable[[], Sequence[str]], interval: float = INTERVAL,
                 dead_after: float = DEAD_AFTER, metrics: object = None) -> None:
        if dead_after <= interval:
            raise ValueError("dead_after must be longer than the heartbeat interval")
        self.table, self.instance, self.inbox, self.nodes = table, instance, inbox, nodes
        self.interval, self.dead_after, self.metrics = interval, dead_after, metrics
        self.started = time.time()
        self.on_dead: List[Callable[[str], None]] = []
        self.on_gone: List[Callable[[str], None]] = []
        self.on_beat: List[Callable[[], None]] = []
        self.rows: Dict[str, InstanceRow] = {}
        self.failing = False
        self.beats = 0
        self.beating_since = time.time()     # this instance's own beats, unbroken since
        self._greenlet: Optional[gevent.Greenlet] = None

    def start(self) -> None:
        self.beat_once()
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._beat_forever)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None
        try:
            self.table.stopped(self.instance)
        except StoreError as error:
            log.warning("this instance could not be marked stopped in the store: %s", error)

    # -- what others ask ---------------------------------------------------------------------
    def alive(self, name: str, now: Optional[float] = None) -> bool:
        row = self.rows.get(name)
        now = time.time() if now is None else now
        return row is not None and row["state"] == UP and now - row["heartbeat"] < self.dead_after

    def live_peers(self) -> List[str]:
        """The other instances alive now, by name (the order of their names)."""
        now = time.time()
        return sorted(name for name in self.rows if name != self.instance and self.alive(name, now))

    def status(self) -> Dict[str, Dict[str, object]]:
        """For ``/readyz``: each instance this one knows of, its state and heartbeat's age."""
        now = time.time()
        shown: Dict[str, Dict[str, object]] = {}
        for name, row in sorted(self.rows.items()):
            state = row["state"]
            if state == UP and not self.alive(name, now):
                state = "silent"
            shown[name] = {"state": state, "heartbeat_age": round(max(0.0, now - row["heartbeat"]), 1),
                           "nodes": row["nodes"], "self": name == self.instance}
        return shown

    # -- the heartbeat ---------------------------------------------------------------------
    def _beat_forever(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.beat_once()

    def beat_once(self) -> None:
        before = {name for name in self.rows if self.alive(name)}
        try:
            self.table.beat(self.instance, self.inbox, self.started, list(self.nodes()))
            if self.beats % PRUNE_EVERY == 0:
                self.table.prune(FORGET_AFTER)
            self.beats += 1
            if self.failing:
                log.warning("instance heartbeat written again; no instance is judged dead "
                            "for %.0fs", self.dead_after)
                self.failing, self.beating_since = False, time.time()
            self.rows = {row["name"]: row for row in self.table.all()}
            claimed = []
            if time.time() - self.beating_since >= self.dead_after:
                claimed = self.table.claim_dead(self.instance, self.dead_after)
        except StoreError as error:
            if not self.failing:
                log.error("instance heartbeat not written (tried again every %.0fs): %s",
                          self.interval, error)
            self.failing = True
            return
        self._count()
        for name in claimed:
            log.error("instance %s stopped beating %.0fs ago: taken over by this instance",
                      name, time.time() - self.rows[name]["heartbeat"] if name in self.rows else 0)
            if name in self.rows:
                row = self.rows[name].copy()
                row["state"], row["taken_over_by"] = DEAD, self.instance
                self.rows[name] = row
            self._tell(self.on_dead, name)
        for name in before - {name for name in self.rows if self.alive(name)}:
            self._tell(self.on_gone, name)
        for hook in list(self.on_beat):
            try:
                hook()
            except Exception:
                log.exception("heartbeat observer failed")

    def _tell(self, hooks: List[Callable[[str], None]], name: str) -> None:
        for hook in list(hooks):
            try:
                hook(name)
            except Exception:
                log.exception("peer observer failed for %s", name)

    def _count(self) -> None:
        if self.metrics is None:
            return
        now = time.time()
        counts = {UP: 0, "silent": 0, STOPPED: 0, DEAD: 0}
        for name, row in self.rows.items():
            state = row["state"]
            if state == UP and not self.alive(name, now):
                state = "silent"
            counts[state if state in counts else DEAD] += 1
        for state, count in counts.items():
            self.metrics.instances.labels(state).set(count)  # type: ignore[attr-defined]
