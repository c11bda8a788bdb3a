"""Who sends the outbox: one lane per tenant, signed requests, retried until the rules say stop.

Each tenant with a receiver has a lane of its own: its workers (``workers``, per instance), its
HTTP connection pool and its own pause, so a receiver that hangs or is down delays only its own
tenant's callbacks. A worker claims the tenant's oldest due row (``outbox.claim``), sends it,
and writes down what became of it:

- a 2xx: ``delivered``. Nothing else marks a row delivered;
- a network error, a request that took longer than ``timeout``, 408, 429 or a 5xx: tried again
  under the same event id after a jittered, capped backoff (``backoff.jittered``:
  ``backoff_base`` doubling up to ``backoff_cap``), the lane pausing as long (its receiver is
  down or overloaded: the rows behind it would fare no better). ``max_attempts``, when set,
  gives up after that many;
- a 3xx or any other 4xx: given up at once (the receiver refuses it; sending it again would
  not change its mind);
- a row older than ``max_age`` (24 h by default) is given up, never sent again: when it is
  next claimed, or when its lane next looks for them (every minute at most, all at once).

Delivered and given-up rows are deleted a week after (``KEEP_FINISHED``): the table holds
what is pending and what was done lately, not every callback ever sent.

Each request carries the body as it is stored, ``X-Event-Id`` (the row's id), ``X-Event-Seq``,
and the signature of ``payments/signing.py``: ``X-Timestamp`` and ``X-Signature: v1=hex(HMAC-
SHA256(secret, timestamp + "." + body))``, the timestamp the moment it is sent. A lane wakes
when this instance stores a row, and looks every ``poll_interval`` seconds for rows another
instance (or ``orchestrator reconcile``) stored.
"""
import logging
import os
import random
import socket
import time
import uuid
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import gevent
import requests
from gevent.event import Event
from gevent.pool import Group

from orchestrator import backoff
from orchestrator.payments.signing import signed_headers

from .outbox import Outbox, OutboxRow
from .settings import ReceiverSettings

log = logging.getLogger(__name__)

EVENT_ID_HEADER, SEQ_HEADER = "X-Event-Id", "X-Event-Seq"
DELIVERED, RETRY, REFUSED = "delivered", "retry", "refused"
POLL_INTERVAL = 1.0
# a claim outlives the longest request by this much (a worker killed mid-request leaves it)
CLAIM_MARGIN = 5.0
STORE_PAUSE = 1.0           # a lane whose store failed looks again after this long
# delivered and given-up rows are kept this long, then deleted
KEEP_FINISHED = 7 * 86400.0
# how often a lane looks for rows past max_age and rows to delete (at most)
HOUSEKEEPING_EVERY = 60.0


class _TooSlow(Exception):
    """The whole request took longer than the receiver's ``timeout``."""


def this_instance() -> str:
    """Host, process and a random part: unique even for two senders in one process."""
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])


def verdict(status: int) -> str:
    """What an HTTP status means for a row: delivered, worth a retry, or refused."""
    if 200 <= status < 300:
        return DELIVERED
    if status in (408, 429) or status >= 500:
        return RETRY
    return REFUSED


class _Lane:
    def __init__(self, tenant: str, receiver: ReceiverSettings) -> None:
        self.tenant, self.receiver = tenant, receiver
        self.http = requests.Session()
        self.wake = Event()
        self.resume_at = 0.0       # clock time before which this lane sends nothing
        self.housekeeping_at = 0.0 # clock time of its next look for expired and old rows


class OutboxSender:
    def __init__(self, outbox: Outbox, receivers: Mapping[str, ReceiverSettings],
                 metrics: Any = None, instance: Optional[str] = None,
                 poll_interval: float = POLL_INTERVAL,
                 draw: Callable[[], float] = random.random) -> None:
        self.outbox, self.metrics = outbox, metrics
        self.instance = instance or this_instance()
        self.poll_interval, self.draw = poll_interval, draw
        self.lanes: Dict[str, _Lane] = {tenant: _Lane(tenant, receiver)
                                        for tenant, receiver in receivers.items()}
        self._group = Group()

    @property
    def clock(self) -> Callable[[], float]:
        return self.outbox.clock

    def start(self) -> None:
        if not len(self._group):
            for lane in self.lanes.values():
                for _ in range(lane.receiver.workers):
                    self._group.spawn(self._work, lane)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sending; a row in flight keeps its claim until it lapses (sent again later,
        under the same id, if its 2xx was not written down)."""
        self._group.kill(block=True, timeout=timeout)
        for lane in self.lanes.values():
            lane.http.close()

    def wake(self, tenant: str) -> None:
        lane = self.lanes.get(tenant)
        if lane is not None:
            lane.wake.set()

    # -- a worker ------------------------------------------------------------------------
    def _work(self, lane: _Lane) -> None:
        while True:
            lane.wake.clear()
            paused = lane.resume_at - self.clock()
            if paused > 0:
                gevent.sleep(min(paused, self.poll_interval))
                continue
            try:
                sent = self.send_next(lane.tenant)
            except Exception as error:   # the store failed: the rows wait there
                log.warning("status callbacks of %s: the outbox could not be read (%s); "
                            "trying again", lane.tenant, type(error).__name__)
                gevent.sleep(STORE_PAUSE)
                continue
            if not sent:
                lane.wake.wait(timeout=self.poll_interval)

    def send_next(self, tenant: str) -> bool:
        """One step of ``tenant``'s lane: give up its rows past max_age, then claim, send and
        write down its oldest due row. False when none was due (or another instance holds
        them). What the workers run; tests call it to step a lane by hand."""
        lane = self.lanes[tenant]
        receiver = lane.receiver
        if self.clock() >= lane.housekeeping_at:
            self._housekeeping(lane)
        claimed = self.outbox.claim(tenant, self.instance, receiver.timeout + CLAIM_MARGIN)
        if not claimed:
            return False
        row = claimed[0]
        if row.created < self.clock() - receiver.max_age:    # aged since the last look
            log.warning("status callback %s (seq %d) for %s given up, older than max_age (%gs)",
                        row.type, row.seq, tenant, receiver.max_age)
            if self.outbox.give_up(row.id, self.instance, "older than max_age (%gs)"
                                   % receiver.max_age):
                self._given_up(tenant, "expired")
            return True
        outcome, why = self._send(lane, row)
        if outcome == DELIVERED:
            self.outbox.delivered(row.id)
            lane.resume_at = 0.0
            if self.metrics is not None:
                self.metrics.outbox_delivered.labels(tenant).inc()
        elif outcome == REFUSED:
            log.warning("status callback %s (seq %d) for %s refused (%s): given up", row.type,
                        row.seq, tenant, why)
            if self.outbox.give_up(row.id, self.instance, why):
                self._given_up(tenant, "refused")
        else:
            self._failed(lane, row, why)
        return True

    def _housekeeping(self, lane: _Lane) -> None:
        """Give up the lane's rows past max_age (all at once, none sent) and delete its rows
        finished more than KEEP_FINISHED ago; then not again for a while."""
        tenant, receiver = lane.tenant, lane.receiver
        now = self.clock()
        lane.housekeeping_at = now + min(HOUSEKEEPING_EVERY, receiver.max_age / 10)
        expired = self.outbox.expire(tenant, receiver.max_age)
        if expired:
            log.warning("status callbacks of %s: %d given up, older than max_age (%gs)",
                        tenant, expired, receiver.max_age)
            self._given_up(tenant, "expired", expired)
        self.outbox.purge(tenant, now - KEEP_FINISHED)

    def _failed(self, lane: _Lane, row: OutboxRow, why: str) -> None:
        tenant, receiver = lane.tenant, lane.receiver
        attempt = row.attempts + 1
        if receiver.max_attempts is not None and attempt >= receiver.max_attempts:
            log.warning("status callback %s (seq %d) for %s given up after %d attempts (%s)",
                        row.type, row.seq, tenant, attempt, why)
            if self.outbox.give_up(row.id, self.instance, why):
                self._given_up(tenant, "attempts")
            return
        delay = backoff.jittered(attempt, receiver.backoff_base, receiver.backoff_cap, self.draw)
        log.info("status callback %s (seq %d) for %s failed (%s), attempt %d: again in %.1fs",
                 row.type, row.seq, tenant, why, attempt, delay)
        self.outbox.retry(row.id, self.instance, why, delay)
        lane.resume_at = self.clock() + delay
        if self.metrics is not None:
            self.metrics.outbox_retries.labels(tenant).inc()

    def _send(self, lane: _Lane, row: OutboxRow) -> Tuple[str, str]:
        receiver = lane.receiver
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: row.id,
                   SEQ_HEADER: str(row.seq)}
        headers.update(signed_headers(receiver.secret, row.body, now=time.time()))
        try:
            with gevent.Timeout(receiver.timeout, _TooSlow()):
                reply = lane.http.post(receiver.url, data=row.body, headers=headers,
                                       timeout=(receiver.timeout, receiver.timeout),
                                       allow_redirects=False, stream=True)
                status = reply.status_code
                reply.close()
        except _TooSlow:
            return RETRY, "no answer within %gs" % receiver.timeout
        except requests.RequestException as error:
            return RETRY, type(error).__name__
        return verdict(status), "HTTP %d" % status

    def _given_up(self, tenant: str, reason: str, count: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.outbox_given_up.labels(tenant, reason).inc(count)
