"""Every Prometheus metric of the service, defined once.

Metrics live on an instance with its own ``CollectorRegistry`` rather than on the global
registry, so each test (and each service in one process, as the demo runs) counts alone.

Labels are bounded sets only, because every distinct label value is a series Prometheus keeps:
tenant (from the configured list, else ``default``/``unknown``), flow and gateway (from the
config), step kind, outcome, node, and the error/result/reason vocabularies below. Never a call
UUID, a reference, an amount or a digit. Values outside a vocabulary are counted as ``other``,
so a new error string in a connector cannot grow the series set by itself.

Payment metrics count from the typed payment events: ``Metrics.on_payment_event`` is a
subscriber of the service's ``PaymentEventBus`` (``payments/events.py``), so no step reaches
the metrics itself.

The dashboard (``deploy/grafana``) and the alert rules (``deploy/prometheus``) query these
names; a test checks that they use no other ``payivr_`` name.
"""
import logging
import platform
import time
from typing import TYPE_CHECKING, Callable, Dict, Iterator, Optional, Protocol, Sequence, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator import __version__
from orchestrator.payments.events import (PaymentRefunded, PaymentVoided)
from orchestrator.payments.gateways.refund_results import REFUND_RESULTS
from orchestrator.payments.events import (CallRef, FieldAccepted, FieldRejected, PaymentApproved,
                                          PaymentDeclined, PaymentEvent, PaymentFailed,
                                          SurveyRated)
from orchestrator.payments.gateways.results import (DECLINE_REASONS as _DECLINES,
                                                    GATEWAY_ERROR_KINDS as _ERROR_KINDS,
                                                    Approved, Declined, GatewayError)
from orchestrator.payments.validation import FIELD_ERROR_TYPES, FIELDS, NUMBER_CONFIRMATION
from orchestrator.store.backend import ERROR_KINDS as STORE_ERROR_KINDS
from orchestrator.store.journal import SURVEY_RATINGS
from orchestrator.store.journal import WRITE_OPERATIONS as STORE_WRITE_OPERATIONS

# why a status callback is given up (callbacks/sender.py says when)
GIVEN_UP_REASONS = ("refused", "expired", "attempts")


class PendingRows(Protocol):
    def pending_by_tenant(self) -> Dict[str, Tuple[int, float]]: ...


if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.store import PaymentStore

log = logging.getLogger(__name__)

PREFIX = "payivr"
# A step waits for a caller: from a 50 ms command to a two-minute entry with retries.
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
ESL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# A card authorization over HTTPS: 100 ms on a good day, 3-D Secure or a slow acquirer far more.
# One short transaction of the payment store: a fraction of a millisecond on a local SQLite file,
# a few on a PostgreSQL server nearby, seconds when a lost connection is retried.
STORE_WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
AUTHORIZATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60)

# The label vocabularies are the payment code's own, imported: results of an authorization,
# the normalised decline reasons and the error kinds of payments/gateways/results.py, the card
# fields and field error types of payments/validation.py. Anything else (a Redsys "0190") is
# counted as "other".
OTHER = "other"
PAYMENT_RESULTS = (Approved.status, Declined.status, GatewayError.status)
DECLINE_REASONS = _DECLINES + (OTHER,)
GATEWAY_ERROR_KINDS = _ERROR_KINDS + (OTHER,)
CARD_FIELDS = FIELDS + (NUMBER_CONFIRMATION,)
FIELD_ERRORS = FIELD_ERROR_TYPES + (OTHER,)
REFUSAL_REASONS = ("pool-full", "shutting-down")
RELAY_OUTCOMES = ("answered", "timed_out", "unsent", "too_large")
# What a call's tenant may be refused (orchestrator/tenancy): another tenant's flow, a gateway
# not granted to it, a destination outside its allow list, a web service, SMS provider or
# payment link not its own nor granted; and the calls_total outcome of a
# call whose flow was not its tenant's.
TENANT_RESOURCES = ("flow", "gateway", "destination", "web_service", "sms_provider",
                    "payment_link")
WRONG_TENANT = "wrong-tenant"
WEB_SERVICE_OUTCOMES = ("ok", "not-found", "error", "timeout")
SMS_RESULTS = ("sent", "error", "timeout")
# what a payment link's webhook was answered (links/webhook.py)
# a caller's answer to the survey after paying (engine/steps/survey.py)
SURVEY_RATING_LABELS = tuple(str(rating) for rating in SURVEY_RATINGS)
# what a reload of flows and catalogs ended with (service.py, Service.reload)
RELOAD_RESULTS = ("reloaded", "failed")
LINK_WEBHOOK_CODES = ("200", "400", "401", "404", "405", "409", "413", "415")
# The bounds on what a peer may send or hold, by the config key that sets each (README, "Limits").
LIMIT_KEYS = ("limits.esl.max_header_lines", "limits.esl.max_header_bytes",
              "limits.esl.max_body_bytes", "limits.esl.max_queued_events",
              "http.max_connections", "http.header_timeout", "http.body_timeout",
              "http.max_header_bytes", "http.max_body_bytes")
# What the reconciliation backlog holds: payments flagged unknown, and payments left pending.
BACKLOG_STATES = ("unknown", "pending")
# A payment still pending after this long is not in flight: no authorization takes five
# minutes within the gateways' retry and status bounds, so its process died before the answer.
PENDING_AFTER = 300.0


def bounded(value: Optional[str], allowed: Sequence[str]) -> str:
    """``value`` when it is in ``allowed``, else ``other``: the series set stays fixed."""
    if value is not None and value in allowed:
        return value
    log.debug("metric label value outside its vocabulary counted as other")
    return OTHER


class Metrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Info(f"{PREFIX}_build", "Version of the running service", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})

        # -- calls ---------------------------------------------------------------------------
        self.calls_in_progress = Gauge(
            f"{PREFIX}_calls_in_progress", "Calls whose socket is being served now", registry=r)
        self.max_calls = Gauge(
            f"{PREFIX}_max_calls",
            "Calls this instance serves at once (max_calls); saturation = in progress / this",
            registry=r)
        self.calls_refused = Counter(
            f"{PREFIX}_calls_refused_total",
            "Calls closed at once, before connect, so the dialplan fallback took them: "
            "pool-full (max_calls in progress) or shutting-down",
            ["reason"], registry=r)
        for reason in REFUSAL_REASONS:
            self.calls_refused.labels(reason)
        self.calls = Counter(
            f"{PREFIX}_calls_total",
            "Calls whose flow ended, by tenant, flow and outcome (completed, transferred, "
            "caller-hung-up, error; no-flow under flow=none; wrong-tenant: the flow chosen was "
            "not the call's tenant's, and did not run)",
            ["tenant", "flow", "outcome"], registry=r)
        self.tenant_refusals = Counter(
            f"{PREFIX}_tenant_refusals_total",
            "What a call or an agent's request was refused because it is not its tenant's, by "
            "tenant and resource: flow (another tenant's flow chosen), gateway (an authorize "
            "naming a gateway not granted), destination (a transfer outside the allow list)",
            ["tenant", "resource"], registry=r)
        self.step_duration = Histogram(
            f"{PREFIX}_step_duration_seconds", "Time a flow step took, by flow and step kind",
            ["flow", "step"], buckets=STEP_BUCKETS, registry=r)

        # -- FreeSWITCH nodes ----------------------------------------------------------------
        self.esl_up = Gauge(
            f"{PREFIX}_esl_connection_up", "1 when the inbound ESL connection to a node is up",
            ["node"], registry=r)
        self.esl_reconnects = Counter(
            f"{PREFIX}_esl_reconnects_total", "Inbound ESL connection attempts after a loss",
            ["node"], registry=r)
        self.esl_command_seconds = Histogram(
            f"{PREFIX}_esl_command_duration_seconds",
            "Time from an inbound ESL command to its answer (keepalives included)",
            ["node", "kind"], buckets=ESL_BUCKETS, registry=r)

        self.node_secure_entry = Gauge(
            f"{PREFIX}_node_secure_entry_reachable",
            "1 when the node's switch sees this instance's secure-entry FIFO folder (same host "
            "or a shared volume), so card entry on its calls can work; 0 when it does not "
            "(asked on each inbound connect)", ["node"], registry=r)
        self.node_calls_in_progress = Gauge(
            f"{PREFIX}_node_calls_in_progress",
            "Calls being served now, by the node their socket came from (a configured node "
            "name, or unknown: a switch no configured node matches)", ["node"], registry=r)
        self.node_calls = Counter(
            f"{PREFIX}_node_calls_total",
            "Calls whose socket came from a node, by node (a configured name, or unknown); "
            "every call that reached its flow choice, whatever its outcome", ["node"], registry=r)

        # -- payments (counted from the payment events: on_payment_event) -------------------
        self.payments = Counter(
            f"{PREFIX}_payments_total",
            "Authorization attempts that got an answer or failed, by tenant, gateway and "
            "result (approved, declined, error)",
            ["tenant", "gateway", "result"], registry=r)
        # -- flows (service.py, Service.reload) -------------------------------------------------
        self.flow_reloads = Counter(
            f"{PREFIX}_flow_reloads_total",
            "Reloads of the flows and catalogs (SIGHUP or POST /api/v1/admin/reload), by result: "
            "reloaded, or failed (the flows running before are kept)", ["result"], registry=r)
        for result in RELOAD_RESULTS:
            self.flow_reloads.labels(result)
        self.flows_loaded = Gauge(
            f"{PREFIX}_flows_loaded",
            "Flows new calls can choose from, as last loaded (start-up or the last good reload)",
            registry=r)
        self.survey_ratings = Counter(
            f"{PREFIX}_survey_ratings_total",
            "Satisfaction survey answers after a payment, by tenant and rating (1 to 5); a "
            "caller who keyed no rating is not counted",
            ["tenant", "rating"], registry=r)
        self.refunds = Counter(
            f"{PREFIX}_refunds_total",
            "Refund and void requests of approved payments answered, by tenant, kind (refund, "
            "void) and result (succeeded, refused, error, unknown: to be reconciled)",
            ["tenant", "kind", "result"], registry=r)
        self.payment_declines = Counter(
            f"{PREFIX}_payment_declines_total",
            "Declined authorizations by normalised reason (see DECLINE_REASONS)",
            ["tenant", "gateway", "reason"], registry=r)
        self.authorization_seconds = Histogram(
            f"{PREFIX}_authorization_duration_seconds",
            "Time from sending an authorization to the gateway to its answer or failure",
            ["gateway"], buckets=AUTHORIZATION_BUCKETS, registry=r)
        self.gateway_errors = Counter(
            f"{PREFIX}_gateway_errors_total",
            "Gateway calls that failed without a decision, by kind (see GATEWAY_ERROR_KINDS)",
            ["gateway", "kind"], registry=r)
        self.web_service_requests = Counter(
            f"{PREFIX}_web_service_requests_total",
            "call_service lookups by tenant, web service and outcome (ok, not-found, error, "
            "timeout; an answer that does not fit the step's map or limits is error)",
            ["tenant", "service", "outcome"], registry=r)
        self.web_service_seconds = Histogram(
            f"{PREFIX}_web_service_duration_seconds",
            "Time a call_service lookup took, retries included, by web service",
            ["service"], buckets=AUTHORIZATION_BUCKETS, registry=r)
        self.sms = Counter(
            f"{PREFIX}_sms_total",
            "Texts send_sms handed to a provider, by tenant, provider and result (sent, error, "
            "timeout: it may have arrived)",
            ["tenant", "provider", "result"], registry=r)
        self.link_webhooks = Counter(
            f"{PREFIX}_payment_link_webhooks_total",
            "Payment link webhooks answered, by payment_links entry and HTTP status (200 settled "
            "or a repeat, 401 bad signature, 404 unknown token, 409 flagged for reconciliation)",
            ["link", "code"], registry=r)
        self.links_expired = Counter(
            f"{PREFIX}_payment_links_expired",
            "Payment links this instance's sweep declined (link_expired) because they expired "
            "unpaid, by tenant (with several instances, each link is counted by the one that "
            "declined it)",
            ["tenant"], registry=r)
        self.field_attempts = Counter(
            f"{PREFIX}_card_field_attempts_total",
            "Attempts at a card field that ended accepted or rejected (not cancelled), by tenant "
            "and field",
            ["tenant", "field"], registry=r)
        self.field_errors = Counter(
            f"{PREFIX}_card_field_errors_total",
            "Card field entries that were rejected or not completed, by tenant, field and "
            "error (see FIELD_ERRORS)",
            ["tenant", "field", "error"], registry=r)

        # -- bounds on peers -----------------------------------------------------------------
        self.limit_rejections = Counter(
            f"{PREFIX}_limit_rejections_total",
            "Connections, frames and requests cut off because they crossed a bound, by the "
            "config key that sets it (an ESL peer closed, an HTTP client answered 408/413/431/503)",
            ["limit"], registry=r)
        for key in LIMIT_KEYS:
            self.limit_rejections.labels(key)

        # -- the payment store ---------------------------------------------------------------
        self.store_up = Gauge(
            f"{PREFIX}_store_up",
            "1 when the payment store answered last time it was asked (a call's write or the "
            "monitor's ping); 0 while it cannot be reached, and /readyz says not ready",
            registry=r)
        self.store_errors = Counter(
            f"{PREFIX}_store_errors_total",
            "Payment store operations that failed, by kind: connection (lost or refused; "
            "retried, a bounded number of times), timeout (the database did not answer in "
            "time), busy (no pooled connection free), conflict (a key already taken), query",
            ["kind"], registry=r)
        for kind in STORE_ERROR_KINDS:
            self.store_errors.labels(kind)
        self.store_write_seconds = Histogram(
            f"{PREFIX}_store_write_seconds",
            "Time the payment store took to record a write of a payment, from its transaction's "
            "start to its commit (retries included), by operation: number (the payment's "
            "number), begin (the pending row, before the gateway is called), finish (the "
            "outcome), flag (kept for reconciliation)",
            ["operation"], buckets=STORE_WRITE_BUCKETS, registry=r)
        for operation in STORE_WRITE_OPERATIONS:
            self.store_write_seconds.labels(operation)

        # -- status callbacks (the outbox: orchestrator/callbacks) ----------------------------
        self.outbox_delivered = Counter(
            f"{PREFIX}_outbox_delivered_total",
            "Status callbacks and session notices delivered (the receiver answered 2xx), by "
            "tenant", ["tenant"], registry=r)
        self.outbox_retries = Counter(
            f"{PREFIX}_outbox_retries_total",
            "Deliveries that failed and will be tried again (network error, 408, 429, 5xx), by "
            "tenant", ["tenant"], registry=r)
        self.outbox_given_up = Counter(
            f"{PREFIX}_outbox_given_up_total",
            "Status callbacks given up, by tenant and reason: refused (the receiver answered "
            "3xx or 4xx), expired (not delivered within max_age), attempts (max_attempts "
            "failed); the receiver misses those events", ["tenant", "reason"], registry=r)
        self.outbox_dropped = Counter(
            f"{PREFIX}_outbox_dropped_total",
            "Status callbacks never stored, by tenant: queue_size rows pending already, a body "
            "over max_body, or the store failed; the receiver sees a gap in seq",
            ["tenant"], registry=r)

        # -- several instances (orchestrator/cluster) -----------------------------------------
        self.relay_requests = Counter(
            f"{PREFIX}_relay_requests_total",
            "Requests this instance forwarded to another instance (an agent's request for a "
            "call or session held there), by outcome: answered, timed_out (no answer within "
            "cluster.request_timeout), unsent (the store did not take it), too_large",
            ["outcome"], registry=r)
        for outcome in RELAY_OUTCOMES:
            self.relay_requests.labels(outcome)
        self.relay_pushes_dropped = Counter(
            f"{PREFIX}_relay_pushes_dropped_total",
            "Session changes not sent to another instance's event stream (queue full, or the "
            "store did not take them)", registry=r)
        self.relay_listening = Gauge(
            f"{PREFIX}_relay_listening",
            "1 while this instance listens for other instances' requests (PostgreSQL LISTEN)",
            registry=r)
        self.instances = Gauge(
            f"{PREFIX}_instances",
            "Instances sharing the store as this one sees them, by state: up, silent (its "
            "heartbeat older than cluster.dead_after, not yet claimed), stopped, dead",
            ["state"], registry=r)
        self.takeovers = Counter(
            f"{PREFIX}_instance_takeovers_total",
            "Dead instances (silent past cluster.dead_after) this instance took over", registry=r)
        self.takeover_payments = Counter(
            f"{PREFIX}_takeover_payments_total",
            "Unsettled payments of dead instances this instance reconciled, by outcome: settled, "
            "or flagged (the gateway could not say yet; asked again)", ["outcome"], registry=r)

    def watch_store(self, store: "PaymentStore") -> None:
        """Export the store's health (``payivr_store_up``, read at each scrape), count each of
        its failures (``payivr_store_errors_total``) and time each write of a payment
        (``payivr_store_write_seconds``)."""
        health = store.health
        self.store_up.set_function(lambda: 1.0 if health.up else 0.0)
        health.on_error = lambda kind: self.store_errors.labels(
            bounded(kind, STORE_ERROR_KINDS)).inc()
        store.on_write = lambda operation, seconds: self.store_write_seconds.labels(
            bounded(operation, STORE_WRITE_OPERATIONS)).observe(seconds)

    def watch_reconciliation_backlog(self, store: "PaymentStore",
                                     pending_after: float = PENDING_AFTER) -> None:
        """Export, read from ``store`` at each scrape, the payments awaiting reconciliation."""
        self.registry.register(ReconciliationBacklog(store, pending_after))

    def watch_outbox(self, outbox: "PendingRows", tenants: Sequence[str]) -> None:
        """Export, read from the outbox at each scrape, each tenant's pending callbacks; and
        zero every tenant's counters, so a rate starts from a sample."""
        self.registry.register(OutboxBacklog(outbox, tenants))
        for tenant in tenants:
            self.outbox_delivered.labels(tenant)
            self.outbox_retries.labels(tenant)
            self.outbox_dropped.labels(tenant)
            for reason in GIVEN_UP_REASONS:
                self.outbox_given_up.labels(tenant, reason)

    # -- the payment event subscriber ----------------------------------------------------------
    def on_payment_event(self, call: CallRef, event: PaymentEvent) -> None:
        """Count a payment fact: an attempt at a card field (and why it failed), an
        authorization's result, latency, decline reason and error kind, a survey rating.
        Other events (a field started, the card complete, ...) are not counted."""
        tenant = call.tenant
        if isinstance(event, FieldAccepted):
            self.record_field_attempt(tenant, event.field)
        elif isinstance(event, FieldRejected):
            self.record_field_attempt(tenant, event.field)
            self.record_field_error(tenant, event.field, event.error_type)
        elif isinstance(event, PaymentApproved):
            self.record_authorization(tenant, event.gateway, Approved.status, event.seconds)
        elif isinstance(event, PaymentDeclined):
            self.record_authorization(tenant, event.gateway, Declined.status, event.seconds,
                                      decline_reason=event.reason_code)
        elif isinstance(event, PaymentFailed):
            self.record_authorization(tenant, event.gateway, GatewayError.status, event.seconds)
            self.record_gateway_error(event.gateway, event.kind)
        elif isinstance(event, PaymentRefunded):
            self.refunds.labels(tenant, "refund", bounded(event.result, REFUND_RESULTS)).inc()
        elif isinstance(event, PaymentVoided):
            self.refunds.labels(tenant, "void", bounded(event.result, REFUND_RESULTS)).inc()
        elif isinstance(event, SurveyRated):
            self.survey_ratings.labels(tenant, bounded(str(event.rating), SURVEY_RATING_LABELS)).inc()

    # -- the same, by plain values ------------------------------------------------------------
    def count_refunds_of(self, tenants: Sequence[str]) -> None:
        """Start each tenant's refund and void series at 0, so the first refund is an increase
        Prometheus sees."""
        for tenant in tenants:
            for kind in ("refund", "void"):
                for result in REFUND_RESULTS:
                    self.refunds.labels(tenant, kind, result)

    def count_survey_ratings_of(self, tenants: Sequence[str]) -> None:
        """Start each tenant's five rating series at 0, so the first rating is an increase
        Prometheus sees (a series that appears at 1 has no increase to show)."""
        for tenant in tenants:
            for rating in SURVEY_RATING_LABELS:
                self.survey_ratings.labels(tenant, rating)

    def record_reload(self, result: str, flows: int) -> None:
        """A reload of flows and catalogs ended with ``result`` (``RELOAD_RESULTS``); ``flows``
        is how many new calls choose from now."""
        self.flow_reloads.labels(bounded(result, RELOAD_RESULTS)).inc()
        self.flows_loaded.set(flows)

    def record_limit(self, key: str) -> None:
        """A peer crossed the bound that config key ``key`` sets (one of ``LIMIT_KEYS``)."""
        self.limit_rejections.labels(bounded(key, LIMIT_KEYS)).inc()

    def limit_counter(self, prefix: str) -> Callable[[str], None]:
        """``record_limit`` for names relative to ``prefix`` (``"limits.esl."``)."""
        return lambda name: self.record_limit(prefix + name)

    def record_tenant_refusal(self, tenant: str, resource: str) -> None:
        """The call's (or token's) ``tenant``, a bounded name (``orchestrator/tenants.py``), was
        refused ``resource`` (one of ``TENANT_RESOURCES``)."""
        self.tenant_refusals.labels(tenant, bounded(resource, TENANT_RESOURCES)).inc()

    def record_web_service(self, tenant: str, service: str, outcome: str, seconds: float) -> None:
        """One call_service lookup ended with ``outcome`` after ``seconds``."""
        self.web_service_requests.labels(tenant, service, bounded(outcome, WEB_SERVICE_OUTCOMES)).inc()
        self.web_service_seconds.labels(service).observe(seconds)

    def record_sms(self, tenant: str, provider: str, result: str) -> None:
        """One send_sms handed (or tried to hand) a text to ``provider``."""
        self.sms.labels(tenant, provider, bounded(result, SMS_RESULTS)).inc()

    def record_link_webhook(self, link: str, code: int) -> None:
        """One payment link webhook answered ``code``."""
        self.link_webhooks.labels(link, bounded(str(code), LINK_WEBHOOK_CODES)).inc()

    def record_link_expired(self, tenant: str) -> None:
        """One payment link of ``tenant`` expired unpaid and was declined here."""
        self.links_expired.labels(tenant).inc()

    def record_authorization(self, tenant: str, gateway: str, result: str, seconds: float,
                             decline_reason: Optional[str] = None) -> None:
        """One authorization finished: ``result`` approved/declined/error, ``seconds`` its
        latency; ``decline_reason`` (normalised) for a decline."""
        result = bounded(result, PAYMENT_RESULTS)
        self.payments.labels(tenant, gateway, result).inc()
        self.authorization_seconds.labels(gateway).observe(seconds)
        if result == "declined":
            self.payment_declines.labels(tenant, gateway,
                                         bounded(decline_reason, DECLINE_REASONS)).inc()

    def record_gateway_error(self, gateway: str, kind: Optional[str]) -> None:
        """A gateway call failed without a decision (timeout, connection, http, ...)."""
        self.gateway_errors.labels(gateway, bounded(kind, GATEWAY_ERROR_KINDS)).inc()

    def record_field_attempt(self, tenant: str, field: str) -> None:
        """The caller keyed (or failed to key) a card field: one attempt, retries included."""
        self.field_attempts.labels(tenant, bounded(field, CARD_FIELDS)).inc()

    def record_field_error(self, tenant: str, field: str, error: str) -> None:
        """An attempt at a card field failed (input-timeout, invalid-card-number, ...)."""
        self.field_errors.labels(tenant, bounded(field, CARD_FIELDS),
                                 bounded(error, FIELD_ERRORS)).inc()


class ReconciliationBacklog(Collector):
    """The reconciliation backlog, read from the payment store when Prometheus scrapes.

    ``payivr_reconciliation_backlog_payments{state}``: payments flagged ``unknown`` (the
    gateway could not confirm them: they may have been charged) and payments ``pending`` for
    longer than ``pending_after`` (their process died before the gateway answered);
    ``payivr_reconciliation_backlog_oldest_seconds``: how long the oldest of them has waited.
    Read from the store, not counted from events, so that a restart, another instance or
    ``orchestrator reconcile`` is seen as it is. Several instances sharing one store report
    the same figures: alert on the max, not the sum."""

    def __init__(self, store: "PaymentStore", pending_after: float = PENDING_AFTER) -> None:
        self.store, self.pending_after = store, pending_after

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        try:
            backlog = self.store.backlog(self.pending_after, now)
        except Exception as error:   # a scrape must not fail for it; the gap shows
            log.warning("reconciliation backlog not read: %s", type(error).__name__)
            return
        payments = GaugeMetricFamily(
            "%s_reconciliation_backlog_payments" % PREFIX,
            "Payments awaiting reconciliation: state unknown (flagged: the gateway could not "
            "confirm them) or pending (left by a process that died before the gateway "
            "answered); settled by orchestrator reconcile", labels=["state"])
        oldest: Optional[float] = None
        for state in BACKLOG_STATES:
            count, created = backlog.get(state, (0, None))
            payments.add_metric([state], count)
            if created is not None:
                oldest = created if oldest is None else min(oldest, created)
        yield payments
        yield GaugeMetricFamily(
            "%s_reconciliation_backlog_oldest_seconds" % PREFIX,
            "Age of the oldest payment awaiting reconciliation (0 when none)",
            value=max(0.0, now - oldest) if oldest is not None else 0.0)


class OutboxBacklog(Collector):
    """Status callbacks waiting for their receivers, read from the outbox when Prometheus
    scrapes: ``payivr_outbox_pending{tenant}`` (rows pending) and
    ``payivr_outbox_oldest_pending_seconds{tenant}`` (how long the oldest has waited). Read
    from the store, so a restart or another instance is seen as it is; instances sharing a
    store report the same figures: alert on the max, not the sum."""

    def __init__(self, outbox: PendingRows, tenants: Sequence[str]) -> None:
        self.outbox, self.tenants = outbox, list(tenants)

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        try:
            pending = self.outbox.pending_by_tenant()
        except Exception as error:   # a scrape must not fail for it; the gap shows
            log.warning("outbox backlog not read: %s", type(error).__name__)
            return
        rows = GaugeMetricFamily(
            "%s_outbox_pending" % PREFIX, "Status callbacks and session notices waiting for "
            "their receiver (stored, not yet delivered nor given up), by tenant",
            labels=["tenant"])
        oldest = GaugeMetricFamily(
            "%s_outbox_oldest_pending_seconds" % PREFIX, "Age of the oldest status callback "
            "waiting for its receiver, by tenant (0 when none)", labels=["tenant"])
        for tenant in self.tenants:
            count, created = pending.get(tenant, (0, now))
            rows.add_metric([tenant], count)
            oldest.add_metric([tenant], max(0.0, now - created) if count else 0.0)
        yield rows
        yield oldest
