"""Which FreeSWITCH node each call in progress came from.

A call reaches the service on the outbound socket; the node it came from is the configured
node whose switch has the Core-UUID the socket's ``connect`` reply carries (learnt by the
node's inbound connection: ``esl/inbound.py``). A call no configured node matches (a switch
not in ``nodes``, one restarted whose inbound connection has not reconnected yet, two entries
for one switch) still runs its flow, which speaks only on its own socket, but is logged and
counted under ``node="unknown"``, and the agent API refuses to act on it (503
``node_unknown``) rather than guess a switch.

The agent API asks here first (``node_of``) so that every command about a call in progress
goes over the inbound connection of the node holding it, never another's. The per-node
metrics move here: their ``node`` label is a configured name or ``unknown``, so the series
set is bounded by the config.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Dict, List, Optional

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.esl.channel import Channel
    from orchestrator.esl.inbound import InboundPool
    from orchestrator.metrics import Metrics

log = logging.getLogger(__name__)

UNKNOWN_NODE = "unknown"


class CallNodes:
    def __init__(self, pool: "InboundPool", metrics: "Metrics") -> None:
        self._pool = pool
        self._metrics = metrics
        self._calls: Dict[str, List[str]] = {}   # call uuid -> node names, one per socket open
        for name in list(pool.nodes) + [UNKNOWN_NODE]:
            metrics.node_calls_in_progress.labels(name).set(0)
            metrics.node_calls.labels(name)

    def arrived(self, channel: "Channel") -> str:
        """The call's node name (or ``unknown``), recorded until ``left``."""
        node = self._pool.node_for_switch(channel.core_uuid)
        name = node.name if node is not None else UNKNOWN_NODE
        if node is None and self._pool.nodes:
            log.warning("call from switch %s (Core-UUID %s) matches no configured node: its flow "
                        "runs, but the agent API will not act on it", channel.switch_name or "?",
                        channel.core_uuid or "none")
        self._calls.setdefault(channel.uuid, []).append(name)
        self._metrics.node_calls.labels(name).inc()
        self._metrics.node_calls_in_progress.labels(name).inc()
        return name

    def left(self, channel: "Channel", name: str) -> None:
        names = self._calls.get(channel.uuid)
        if names and name in names:
            names.remove(name)
            if not names:
                del self._calls[channel.uuid]
        self._metrics.node_calls_in_progress.labels(name).dec()

    def node_of(self, call_uuid: str) -> Optional[str]:
        """The node name (or ``unknown``) of a call on this instance's socket; None when the
        call is not on it (not arrived, or gone)."""
        names = self._calls.get(call_uuid)
        return names[-1] if names else None

    def in_progress(self) -> Dict[str, int]:
        """Calls on this instance's socket now, by node name (configured ones, even at 0)."""
        counts = {name: 0 for name in self._pool.nodes}
        for names in self._calls.values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        return counts
