"""Webhooks: each tenant's receiver gets a signed JSON notice for every session change.

Signed like the HTTP gateway connector's requests (``payments/signing.py``):
``X-Timestamp`` and ``X-Signature: v1=hex(HMAC-SHA256(secret, timestamp + "." + body))``.
Bodies carry the masked session only. Delivery runs in background greenlets fed by a bounded
queue: a notice is dropped (logged, and counted in ``payivr_webhook_notices_dropped_total``)
when the queue is full, never waited for, so a receiver that is down or slow cannot slow a call. A failed delivery (network error, 5xx, 429)
is retried with capped exponential backoff; each notice carries ``session_id`` and ``seq`` so a
receiver can order and de-duplicate them.
"""
import itertools
import json
import logging
import time
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple, TypedDict

import gevent
import requests
from gevent.pool import Group
from gevent.queue import Empty, Full, Queue

from orchestrator import backoff
from orchestrator.metrics import Metrics
from orchestrator.payments.signing import signed_headers

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
WORKERS = 4
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


class NotifiedSession(Protocol):
    """What a notice is about: a payment session (agent/sessions.py), masked by its own to_json."""
    id: str
    tenant: str

    def to_json(self) -> Dict[str, Any]: ...


class WebhookNotifier:
    """``notify(session, event, payload)`` is a registry listener; ``start``/``stop`` the workers."""

    def __init__(self, receivers: Optional[Mapping[str, Receiver]],
                 base_delay: float = BACKOFF_BASE, metrics: Optional[Metrics] = None) -> None:
        self.receivers: Dict[str, Receiver] = dict(receivers or {})
        self.base_delay = base_delay
        self.metrics = metrics
        self._queue: "Queue[Tuple[str, bytes]]" = Queue(maxsize=QUEUE_SIZE)
        self._group = Group()
        self._seq = itertools.count(1)
        self._http = requests.Session()

    def start(self) -> None:
        if self.receivers and not len(self._group):
            for _ in range(WORKERS):
                self._group.spawn(self._work)

    def stop(self, timeout: float = 2.0) -> None:
        self._group.kill(block=True, timeout=timeout)
        self._http.close()

    def notify(self, session: NotifiedSession, event: str, payload: Dict[str, Any]) -> None:
        receiver = self.receivers.get(session.tenant)
        if receiver is None:
            return
        body = json.dumps({"type": "session.%s" % event, "session_id": session.id,
                           "seq": next(self._seq), "data": payload, "session": session.to_json(),
                           "sent_at": time.time()}, sort_keys=True).encode("utf-8")
        try:
            self._queue.put_nowait((session.tenant, body))
        except Full:
            if self.metrics is not None:
                self.metrics.webhook_notices_dropped.labels(session.tenant).inc()
            log.warning("webhook queue full: a %s notice for session %s was dropped", event, session.id)

    def _work(self) -> None:
        while True:
            try:
                tenant, body = self._queue.get(timeout=60.0)
            except Empty:
                continue
            receiver = self.receivers.get(tenant)
            if receiver is not None:
                self._deliver(tenant, receiver, body)

    def _deliver(self, tenant: str, receiver: Receiver, body: bytes) -> None:
        attempts = int(receiver.get("max_attempts", DEFAULT_ATTEMPTS))
        timeout = float(receiver.get("timeout", DEFAULT_TIMEOUT))
        for attempt in range(1, attempts + 1):
            headers: Dict[str, str] = {"Content-Type": "application/json"}
            headers.update(signed_headers(receiver["secret"], body))
            try:
                reply = self._http.post(receiver["url"], data=body, headers=headers,
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
                    return
            if attempt < attempts:
                log.info("webhook for %s failed (%s), attempt %d of %d", tenant, why, attempt, attempts)
                gevent.sleep(backoff.exponential(attempt, self.base_delay, BACKOFF_CAP))
        log.warning("webhook for %s given up after %d attempts", tenant, attempts)
