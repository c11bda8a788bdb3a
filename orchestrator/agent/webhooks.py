"""Webhooks: each tenant's receiver gets a signed JSON notice for every session change.

Signed like the HTTP gateway connector's requests (``payments/signing.py``):
``X-Timestamp`` and ``X-Signature: v1=hex(HMAC-SHA256(secret, timestamp + "." + body))``.
Bodies carry the masked session only. Each notice carries ``session_id`` and ``seq``, a number
that counts the tenant's own notices (1, 2, 3... per tenant, never shared with another tenant),
so a receiver can order and de-duplicate them and can see from a gap that it missed some.

Each tenant has a lane of its own: a bounded queue, its own workers and its own HTTP connection
pool. One queue and four workers for everyone let a hung receiver hold every worker, so another
tenant's notice waited 45.5 s; now a receiver that hangs or fails delays only its own tenant's
notices. A failed delivery (network error, 5xx, 429) is retried with capped exponential backoff.

What happens when a lane is full is explicit, never silent: the notice is dropped at once (a
call is never made to wait for a receiver), with a WARNING line, a count in
``payivr_webhook_notices_dropped_total{tenant}`` and a gap in the tenant's ``seq``. A notice
given up after ``max_attempts`` is logged and counted in
``payivr_webhook_notices_undelivered_total{tenant}`` likewise. Notices are not kept on disk: the
session itself (``GET /api/v1/sessions/{id}``) stays the record a receiver can re-read.
"""
import itertools
import json
import logging
import time
from typing import Any, Dict, Iterator, Mapping, Optional, Protocol, TypedDict

import gevent
import requests
from gevent.pool import Group
from gevent.queue import Empty, Full, Queue

from orchestrator import backoff
from orchestrator.metrics import Metrics
from orchestrator.payments.signing import signed_headers

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000        # notices waiting, per tenant
WORKERS = 2              # deliveries at once, per tenant
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_ATTEMPTS = 6


class _Required(TypedDict):
    url: str
    secret: str


class Receiver(_Required, total=False):
    """A tenant's receiver, as ``agent_api.webhooks.<tenant>`` in the service config."""
    timeout: float
    max_attempts: int
    queue_size: int
    workers: int


class NotifiedSession(Protocol):
    """What a notice is about: a payment session (agent/sessions.py), masked by its own to_json."""
    id: str
    tenant: str

    def to_json(self) -> Dict[str, Any]: ...


class _Lane:
    """One tenant's deliveries: its queue, its sequence numbers, its HTTP connection pool."""

    def __init__(self, tenant: str, receiver: Receiver) -> None:
        self.tenant, self.receiver = tenant, receiver
        self.queue: "Queue[bytes]" = Queue(maxsize=int(receiver.get("queue_size", QUEUE_SIZE)))
        self.workers = int(receiver.get("workers", WORKERS))
        self.seq: Iterator[int] = itertools.count(1)
        self.http = requests.Session()


class WebhookNotifier:
    """``notify(session, event, payload)`` is a registry listener; ``start``/``stop`` the workers."""

    def __init__(self, receivers: Optional[Mapping[str, Receiver]],
                 base_delay: float = BACKOFF_BASE, metrics: Optional[Metrics] = None) -> None:
        self.receivers: Dict[str, Receiver] = dict(receivers or {})
        self.base_delay = base_delay
        self.metrics = metrics
        self._lanes = {tenant: _Lane(tenant, receiver) for tenant, receiver in self.receivers.items()}
        self._group = Group()

    def start(self) -> None:
        if not len(self._group):
            for lane in self._lanes.values():
                for _ in range(lane.workers):
                    self._group.spawn(self._work, lane)

    def stop(self, timeout: float = 2.0) -> None:
        self._group.kill(block=True, timeout=timeout)
        for lane in self._lanes.values():
            lane.http.close()

    def notify(self, session: NotifiedSession, event: str, payload: Dict[str, Any]) -> None:
        lane = self._lanes.get(session.tenant)
        if lane is None:
            return
        seq = next(lane.seq)
        body = json.dumps({"type": "session.%s" % event, "session_id": session.id,
                           "seq": seq, "data": payload, "session": session.to_json(),
                           "sent_at": time.time()}, sort_keys=True).encode("utf-8")
        try:
            lane.queue.put_nowait(body)
        except Full:
            if self.metrics is not None:
                self.metrics.webhook_notices_dropped.labels(session.tenant).inc()
            log.warning("webhook queue of %s full (%d waiting): the %s notice seq %d for session "
                        "%s was dropped", session.tenant, lane.queue.maxsize, event, seq, session.id)

    def _work(self, lane: _Lane) -> None:
        while True:
            try:
                body = lane.queue.get(timeout=60.0)
            except Empty:
                continue
            self._deliver(lane, body)

    def _deliver(self, lane: _Lane, body: bytes) -> None:
        tenant, receiver = lane.tenant, lane.receiver
        attempts = int(receiver.get("max_attempts", DEFAULT_ATTEMPTS))
        timeout = float(receiver.get("timeout", DEFAULT_TIMEOUT))
        for attempt in range(1, attempts + 1):
            headers: Dict[str, str] = {"Content-Type": "application/json"}
            headers.update(signed_headers(receiver["secret"], body))
            try:
                reply = lane.http.post(receiver["url"], data=body, headers=headers,
                                       timeout=(timeout, timeout), allow_redirects=False)
                status = reply.status_code
                reply.close()
            except requests.RequestException as exc:
                why = type(exc).__name__
            else:
                why = "HTTP %d" % status
                if status < 500 and status != 429:
                    if status >= 300:
                        log.warning("webhook for %s refused (%s): not retried", tenant, why)
                        self._undelivered(tenant)
                    return
            if attempt < attempts:
                log.info("webhook for %s failed (%s), attempt %d of %d", tenant, why, attempt, attempts)
                gevent.sleep(backoff.exponential(attempt, self.base_delay, BACKOFF_CAP))
        log.warning("webhook for %s given up after %d attempts", tenant, attempts)
        self._undelivered(tenant)

    def _undelivered(self, tenant: str) -> None:
        if self.metrics is not None:
            self.metrics.webhook_notices_undelivered.labels(tenant).inc()
