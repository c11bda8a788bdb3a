"""What a survivor does for an instance that died: settle its payments, end its sessions.

An instance killed mid-call leaves its callers to the dialplan (the ``socket`` application
returns and the dialplan goes on: freeswitch_conf/dialplan/payments.xml), and may leave a
payment ``pending`` (recorded, sent to the gateway, never answered) in the shared store. The
instance that claimed it dead (``peers.py``: one claim wins) reconciles the payments of the
calls it held (``store/instances.py``'s ``calls``) through ``orchestrator/reconcile.py``, the
same rules as ``orchestrator reconcile``: the gateway is asked under the payment's own key,
nothing is sent again, so nothing is charged twice. Its agent sessions still in progress are
marked ``error``. Payments the gateway cannot yet speak for stay flagged, and are asked about
again every ``retry_every`` seconds until they settle; then the dead instance's calls are
forgotten. Each payment looked at is logged and counted (``payivr_takeover_payments_total``):
``flagged`` at each look that left it unsettled, ``settled`` once, by the look whose write
settled it.

One dead instance is settled by one look at a time: the takeover (``dead``) and the retries
after each heartbeat (``again``) run on greenlets of their own, and a retry that came while
the takeover was still reading the store would otherwise reconcile the same payments beside
it. Should two looks still meet (``orchestrator reconcile`` run by hand beside the service),
the ledger's conditional write settles each payment once, and the look that lost the race
counts nothing (``reconcile.Reconciled.mine``).
"""
import datetime
import logging
import time
from typing import Any, Dict, Mapping, Set

from orchestrator.reconcile import reconcile
from orchestrator.store import PaymentStore
from orchestrator.store.errors import StoreError
from orchestrator.store.instances import InstanceTable
from orchestrator.store.sessions import SessionTable

log = logging.getLogger(__name__)
RETRY_EVERY = 30.0
ACTIVE_SESSION_STATES = ("created", "waiting", "collecting", "authorizing")


class Takeover:
    def __init__(self, store: PaymentStore, gateways: Mapping[str, Any], instance: str,
                 metrics: Any = None, retry_every: float = RETRY_EVERY) -> None:
        self.store, self.gateways, self.instance = store, gateways, instance
        self.table = InstanceTable(store.backend)
        self.sessions = SessionTable(store.backend)
        self.metrics, self.retry_every = metrics, retry_every
        self._tried: Dict[str, float] = {}
        self._settling: Set[str] = set()     # the dead instances a look is settling now

    def dead(self, name: str) -> None:
        """``name`` was just claimed dead by this instance (a PeerView ``on_dead`` hook)."""
        if self.metrics is not None:
            self.metrics.takeovers.inc()
        self._settling.add(name)             # no retry looks at it until this look is done
        try:
            self._end_sessions(name)
            self._settle(name)
        finally:
            self._settling.discard(name)

    def _end_sessions(self, name: str) -> None:
        try:
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            ended = self.sessions.abandon_held_by(name, ACTIVE_SESSION_STATES, now)
            if ended:
                log.warning("instance %s: %d agent session(s) in progress marked error", name, ended)
        except StoreError as error:
            log.error("instance %s: its sessions could not be ended: %s", name, error)

    def again(self) -> None:
        """Ask again about the dead instances this one took over that still have calls."""
        try:
            names = self.table.taken_over_by(self.instance)
        except StoreError:
            return
        now = time.monotonic()
        for name in names:
            if name in self._settling or now - self._tried.get(name, 0.0) < self.retry_every:
                continue
            self.settle(name)

    def settle(self, name: str) -> None:
        """Reconcile the payments of ``name``'s calls, unless a look at them is under way."""
        if name in self._settling:
            return
        self._settling.add(name)
        try:
            self._settle(name)
        finally:
            self._settling.discard(name)

    def _settle(self, name: str) -> None:
        self._tried[name] = time.monotonic()
        try:
            calls = self.table.calls_of(name)
            results = reconcile(self.store, self.gateways, older_than=0.0, calls=set(calls))
        except StoreError as error:
            log.error("instance %s: its payments could not be reconciled now: %s", name, error)
            return
        unsettled = [r for r in results if r.status is None]
        for result in results:
            if not result.mine:
                log.info("instance %s died with payment %s unsettled: settled meanwhile by "
                         "another reconciliation (%s)", name, result.payment_id, result.status)
                continue
            outcome = "settled" if result.status is not None else "flagged"
            if self.metrics is not None:
                self.metrics.takeover_payments.labels(outcome).inc()
            if result.status is not None:
                log.warning("instance %s died with payment %s unsettled: reconciled %s",
                            name, result.payment_id, result.status)
            else:
                log.error("instance %s died with payment %s unsettled: still flagged (%s); "
                          "asked again in %.0fs", name, result.payment_id, result.note,
                          self.retry_every)
        if not unsettled:
            try:
                self.table.forget_calls(name, calls)
            except StoreError as error:
                log.warning("instance %s: its calls are not forgotten yet: %s", name, error)
            log.info("instance %s taken over: %d call(s), %d payment(s) reconciled",
                     name, len(calls), len(results))
