"""The running service: the outbound call server, the inbound node pool and the flow library.

This is the only place that knows all three; the ESL layer knows no flows and the engine knows
no sockets. A call whose flow cannot be chosen, or whose flow fails, is handed back to the
dialplan by closing the socket: its ``socket_resume`` fallback puts the caller through to a
person rather than leaving them in silence. So is a call whose flow is not its tenant's
(``orchestrator/tenancy``): nothing of it runs, and the refusal is logged and counted.
"""
import logging
import os
import sqlite3
import time

import gevent
from prometheus_client import make_wsgi_app

from orchestrator.call_nodes import CallNodes
from orchestrator.config import DEFAULTS, ConfigError
from orchestrator.engine import EngineSettings, FlowRunner
from orchestrator.engine.selection import FLOW_VARIABLE, select_in_order
from orchestrator.engine.services import CallServices
from orchestrator.esl.channel import ChannelSettings
from orchestrator.esl.inbound import InboundPool, NodeConnection
from orchestrator.esl.outbound import OutboundServer
from orchestrator.esl.protocol import FrameLimits
from orchestrator.flow_reload import FlowReloader, load_catalogs
from orchestrator.http_limits import HTTP_LIMIT_KEYS, HttpLimits, warn_if_descriptors_short
from orchestrator.hub_errors import route_hub_errors
from orchestrator.logs import ensure_redaction, log_context
from orchestrator.metrics import WRONG_TENANT, Metrics
from orchestrator.payments.events import CallRef, PaymentEventBus, log_subscriber
from orchestrator.payments.gateways import GatewayConfigError, build_gateway
from orchestrator.store import PaymentStore, StoreError, open_store
from orchestrator.store.errors import StoreCannotOpen
from orchestrator.tenancy import (tenant_gateways, tenant_payment_links, tenant_sms_providers,
                                  tenant_web_services)
from orchestrator.sms import build_provider as build_sms_provider
from orchestrator.webservices import build_services
from orchestrator.tenancy.loading import load_library, plan as plan_tenants
from orchestrator.store.monitor import StoreMonitor
from orchestrator.tenants import DEFAULT_TENANT, UNKNOWN_TENANT, resolve_tenant
from orchestrator.web import HttpServer, json_bodies_only, liveness_app, only_get, readiness_app

log = logging.getLogger(__name__)


class Service:
    def __init__(self, config, metrics=None, library=None, on_call_end=None, time_scale=1.0):
        """``on_call_end(channel, flow_name, outcome)`` lets the demo and tests see outcomes;
        ``time_scale`` is for dry runs on the simulator only (see ``ChannelSettings``)."""
        self.config = config
        self.metrics = metrics or Metrics()
        self.library = library or load_library(config)
        self.tenancy = self._plan_tenants(config)
        self._on_call_end = on_call_end
        timeouts = config["timeouts"]
        tts = config["tts"]
        self.engine_settings = EngineSettings(
            tts_engine=tts["engine"], tts_voice=tts["voice"],
            max_step_runs=config["limits"]["max_step_runs"])
        frame_limits = FrameLimits(**config["limits"].get("esl", {}))
        self.server = OutboundServer(
            self.handle_call,
            host=config["listen"]["host"], port=config["listen"]["port"],
            max_calls=config["max_calls"], linger_seconds=config["linger_seconds"],
            reply_timeout=timeouts["reply"],
            channel_settings=ChannelSettings(
                app_timeout=timeouts["app"], answer_timeout=timeouts["answer"],
                tts_engine=tts["engine"], tts_voice=tts["voice"], time_scale=time_scale,
                secure_script=config["secure_entry"]["script"],
                secure_fifo_dir=config["secure_entry"]["fifo_dir"]),
            metrics=self.metrics, frame_limits=frame_limits)
        self.pool = InboundPool([
            NodeConnection(node["name"], node["host"], node.get("port", 8021), node["password"],
                           connect_timeout=timeouts["node_connect"],
                           reply_timeout=timeouts["reply"], keepalive=timeouts["keepalive"],
                           metrics=self.metrics, frame_limits=frame_limits,
                           secure_fifo_dir=config["secure_entry"]["fifo_dir"])
            for node in config["nodes"]])
        self.tenants = frozenset(config["tenants"])
        self.metrics.count_survey_ratings_of(sorted({DEFAULT_TENANT} | self.tenants))
        self.metrics.count_refunds_of(sorted({DEFAULT_TENANT} | self.tenants))
        self.metrics.max_calls.set(config["max_calls"])
        for name in self.pool.nodes:
            self.metrics.esl_up.labels(name).set(0)
        # which node each call came from: the agent API's commands go to that node only
        self.call_nodes = CallNodes(self.pool, self.metrics)
        self.min_nodes_up = min(config.data.get("min_nodes_up", DEFAULTS["min_nodes_up"]),
                                len(self.pool.nodes))
        self.http = self._build_http(config["http"])
        self.gateways = self._build_gateways(config)
        for gateway in self.gateways.values():
            transport = getattr(gateway, "transport", None)
            if transport is not None and hasattr(transport, "size_pool"):
                transport.size_pool(config["max_calls"])
        self.web_services = self._build_web_services(config)
        self.sms_providers = self._build_sms_providers(config)
        self.payment_links = self._build_payment_links(config)
        self.store = self._open_store(config)
        self.metrics.watch_store(self.store)
        self.metrics.watch_reconciliation_backlog(self.store)
        # a database may go away between calls: asked now and then (an SQLite file cannot)
        self.store_monitor = (StoreMonitor(self.store, store_settings(config)["check_interval"])
                              if self.store.kind != "sqlite" else None)
        # every payment fact, typed, to every subscriber (metrics, the log, agent sessions, ...)
        self.events = PaymentEventBus()
        self.events.subscribe(self.metrics.on_payment_event)
        self.events.subscribe(log_subscriber(logging.getLogger("orchestrator.payments")))
        self.callbacks = self._build_callbacks(config)
        self._mount_link_webhooks()
        self.link_expiry = self._build_link_expiry(config)
        self.cluster = self._build_cluster(config)
        self._advertise = (config.data.get("cluster") or {}).get("advertise") or ""
        self.agent = self._build_agent_api(config)
        # SIGHUP and POST /api/v1/admin/reload: new flows for new calls (flow_reload.py)
        self.reloader = FlowReloader(self)
        # every call is handed its tenant's catalogs as loaded now, or by the last reload
        self.catalogs, broken = load_catalogs(self.tenancy, sorted(self.tenants))
        for problem in sorted(set(broken.values())):
            log.warning("%s", problem)
        self.metrics.flows_loaded.set(len(self.library))

    def _build_callbacks(self, config):
        """Each tenant's status callbacks (``tenants.<name>.webhook``), from the outbox on the
        payment store (see orchestrator/callbacks); None when no tenant has a receiver."""
        receivers = config["agent_api"]["webhooks"]
        if not receivers:
            return None
        from orchestrator.callbacks.wiring import StatusCallbacks
        return StatusCallbacks(self.store, receivers, self.events, self.metrics)

    def _build_cluster(self, config):
        """With a PostgreSQL store, this instance among the others sharing it
        (``orchestrator/cluster``); with SQLite there is only one, and None."""
        if self.store.kind != "postgresql":
            return None
        from orchestrator.cluster import Cluster
        settings = dict(DEFAULTS["cluster"], **(config.data.get("cluster") or {}))
        return Cluster(self.store, self.gateways, self._connected_nodes, settings,
                       metrics=self.metrics)

    def _connected_nodes(self):
        return [name for name, node in self.pool.nodes.items() if node.connected]

    def _build_agent_api(self, config):
        """The agent API under ``/api/v1`` when ``agent_api.tokens`` is set (see orchestrator/agent)."""
        settings = config["agent_api"]
        if not settings["tokens"]:
            return None
        if self.http is None:
            raise ConfigError("\n".join(self.http_problems(config)))
        from orchestrator.agent.settings import config_problems
        problems = config_problems(settings, config["tenants"])   # load_config checked a file's
        if problems:
            raise ConfigError("\n".join("%s: %s" % (config.source, p) for p in problems))
        from orchestrator.agent.hub import AgentHub
        hub = AgentHub(self, settings)
        hub.api.reload_flows = self.reload
        hub.api.languages = self.languages_of
        self.events.subscribe(hub.on_payment_event)
        self.http.router.mount("/api/v1", json_bodies_only(hub.api))
        from orchestrator.agent.panel import panel_app
        self.http.router.mount("/panel", panel_app())
        return hub

    def _build_http(self, settings):
        """``/metrics``, ``/healthz``, ``/readyz``; more routes mount on ``self.http.router``."""
        if not settings["enabled"]:
            return None
        # a config built in code (the demo's) may leave keys out: the defaults fill them
        limits = HttpLimits(**{key: settings[key] for key in HTTP_LIMIT_KEYS if key in settings})
        http = HttpServer(settings["host"], settings["port"], limits=limits, metrics=self.metrics)
        http.router.route("/metrics", only_get(make_wsgi_app(self.metrics.registry)), quiet=True)
        http.router.route("/healthz", only_get(liveness_app), quiet=True)
        http.router.route("/readyz", only_get(readiness_app(self.readiness)), quiet=True)
        return http

    @staticmethod
    def _build_gateways(config):
        """Every gateway the config defines, the top-level ones and each tenant's own, by name
        (unique across the config: ``orchestrator reconcile`` finds a payment's by its name)."""
        gateways = {}
        for key, settings in tenant_gateways(config.data):
            try:
                gateways[settings["name"]] = build_gateway(settings["name"], settings)
            except GatewayConfigError as exc:
                raise ConfigError("%s: %s: %s" % (config.source, key.split("[")[0], exc))
        return gateways

    @staticmethod
    def _build_web_services(config):
        """Every web service the config defines (the CRMs flows ask), each tenant's own too."""
        services = {}
        for key, settings in tenant_web_services(config.data):
            try:
                services.update(build_services([settings], key))
            except GatewayConfigError as exc:
                raise ConfigError("%s: %s: %s" % (config.source, key, exc))
        return services

    @staticmethod
    def _build_sms_providers(config):
        """Every SMS provider the config defines (send_sms, send_payment_link), each tenant's
        own too, by name (unique across the config: orchestrator/tenancy)."""
        providers = {}
        for key, settings in tenant_sms_providers(config.data):
            if settings["name"] in providers:   # a config built in code skips the tenancy checks
                raise ConfigError("%s: %s.name: a second SMS provider named %s"
                                  % (config.source, key, settings["name"]))
            try:
                providers[settings["name"]] = build_sms_provider(settings)
            except GatewayConfigError as exc:
                raise ConfigError("%s: %s: %s" % (config.source, key, exc))
        return providers

    @staticmethod
    def _build_payment_links(config):
        """How send_payment_link makes links: every payment_links entry, each tenant's own
        too, by name (orchestrator/links)."""
        from orchestrator.links import build_makers
        makers = {}
        for key, settings in tenant_payment_links(config.data):
            name = settings["name"]
            if name in makers:
                raise ConfigError("%s: %s.name: a second payment link named %s"
                                  % (config.source, key, name))
            entry = {k: v for k, v in settings.items() if k != "name"}
            try:
                makers.update(build_makers({name: entry}))
            except GatewayConfigError as exc:
                raise ConfigError("%s: %s: %s" % (config.source, key, exc))
        return makers

    @staticmethod
    def http_problems(config):
        """What needs the HTTP server a config turns off: the agent API, the payment links'
        webhooks (``orchestrator check`` asks too, before anything starts)."""
        if config["http"]["enabled"]:
            return []
        problems = []
        if config["agent_api"]["tokens"]:
            problems.append("%s: agent_api: needs http.enabled" % config.source)
        if config.data.get("payment_links"):
            problems.append("%s: payment_links: the gateways' webhooks need http.enabled"
                            % config.source)
        return problems

    def _mount_link_webhooks(self):
        """``/webhooks/links/<name>``: the gateways report links paid (links/webhook.py), each
        entry's notices settling only the payments of the tenants that hold it."""
        if not self.payment_links:
            return
        if self.http is None:
            raise ConfigError("\n".join(self.http_problems(self.config)))
        from orchestrator.links.webhook import PREFIX, LinkWebhooks
        from orchestrator.store.links import PaymentLinks
        self.http.router.mount(PREFIX, LinkWebhooks(PaymentLinks(self.store), self.payment_links,
                                                    on_notice=self.metrics.record_link_webhook,
                                                    tenants_of=self.tenancy.link_tenants))

    def _build_link_expiry(self, config):
        """The sweep that declines the links expired unpaid (links/expiry.py), on every
        instance: the store's conditional write settles each link once among them."""
        from orchestrator.links.expiry import LinkExpirySweeper
        settings = dict(DEFAULTS["link_expiry"], **(config.data.get("link_expiry") or {}))
        return LinkExpirySweeper(self.store, settings["interval"],
                                 on_expired=self.metrics.record_link_expired)

    def _store_path(self, path):
        if path == ":memory:" or os.path.isabs(path):
            return path
        return os.path.join(self.config.base_dir, path)

    def _open_store(self, config):
        """The payment store, or start-up stops saying why it cannot be opened: a service that
        cannot write its store would lose every outcome (in a container: a path off its volume)."""
        if store_settings(config)["url"]:
            return open_configured_store(config)
        path = self._store_path(config["store"]["path"])
        try:
            return PaymentStore(path)
        except (sqlite3.Error, StoreCannotOpen) as exc:
            reason = exc.reason if isinstance(exc, StoreCannotOpen) else exc
            folder = os.path.dirname(path) or "."
            why = ""
            if path != ":memory:" and not os.access(folder, os.W_OK):
                why = ("; %s is not writable by this user (uid %d), and SQLite writes its journal "
                       "beside the file" % (folder, os.getuid()))
            raise ConfigError("%s: store.path: cannot open %s: %s%s" % (config.source, path, reason, why))

    def _plan_tenants(self, config):
        """Each tenant's flows, gateways, catalogs and destinations (``orchestrator/tenancy``).
        A flow choice naming no flow, and a tenant's flow that reaches past its grants, stop
        start-up, naming the key and the flow's file:line. A flow whose ``authorize`` names a
        gateway nobody defines (on a site without tenant blocks, or the default tenant's) ends
        each of its calls at the start, before the card is asked for, and the dialplan's
        fallback takes the caller: a warning says so now rather than on the first payment
        call."""
        tenancy, errors, warnings = plan_tenants(config, self.library)
        if errors:
            raise ConfigError("\n".join("%s: %s" % (config.source, line) for line in errors))
        for warning in warnings:
            log.warning("%s", warning)
        return tenancy

    def languages_of(self, tenant):
        """``[(code, the language's own name)]`` of the catalogs the tenant's calls read, as
        loaded at start or by the last reload: what an agent may choose for the caller."""
        plan = self.tenancy.plan(tenant)
        loaded = self.catalogs.get(plan.prompts.catalog_dir or "", {})
        return [(code, catalog.name or code) for code, catalog in sorted(loaded.items())
                if plan.languages is None or code in plan.languages]

    def _services(self, channel, plan, flow_name):
        """What the call's steps reach: its tenant's gateways, web services, SMS providers,
        payment links, catalogs and destinations only."""
        tenant = plan.name
        call = CallRef(channel.uuid, tenant, flow_name, channel.variables.get("pay_session", ""))
        return CallServices(
            gateways={name: self.gateways[name] for name in plan.gateways if name in self.gateways},
            store=self.store, prompts=plan.prompts,
            catalogs=self.catalogs.get(plan.prompts.catalog_dir or "", {}),
            events=self.events.for_call(call), tenant=tenant, call_uuid=channel.uuid,
            agent_requests=self.agent.requests_for(channel) if self.agent else None,
            withheld_gateways=self.tenancy.withheld_gateways(tenant),
            web_services={name: self.web_services[name] for name in plan.web_services
                          if name in self.web_services},
            withheld_web_services=self.tenancy.withheld_web_services(tenant),
            sms_providers={name: self.sms_providers[name] for name in plan.sms_providers
                           if name in self.sms_providers},
            withheld_sms_providers=self.tenancy.withheld_sms_providers(tenant),
            payment_links={name: self.payment_links[name] for name in plan.payment_links
                           if name in self.payment_links},
            withheld_payment_links=self.tenancy.withheld_payment_links(tenant),
            on_web_service=lambda name, outcome, seconds: self.metrics.record_web_service(
                tenant, name, outcome, seconds),
            on_sms=lambda name, result: self.metrics.record_sms(tenant, name, result),
            transfer_allowed=None if plan.destinations is None else plan.may_transfer,
            on_refusal=lambda resource: self.metrics.record_tenant_refusal(tenant, resource))

    def reload(self, trigger="api"):
        """Reload the flows and catalogs for the calls to come; the calls in progress keep
        theirs. A ``ReloadResult``: a flow that does not load keeps the running ones."""
        return self.reloader.reload(trigger)

    @property
    def address(self):
        return self.server.address

    def socket_address(self):
        """With several instances, where the switches reach this instance's outbound ESL:
        ``cluster.advertise``, else the address it listens on; None with one instance, or when
        it listens on every interface and names none (the dialplan's own address is used)."""
        if self.cluster is None:
            return None
        if self._advertise:
            return self._advertise
        bound = self.server.address
        if bound is None or bound[0] in ("0.0.0.0", "::", ""):
            return None
        return "%s:%d" % (bound[0], bound[1])

    @property
    def http_address(self):
        return self.http.address if self.http else None

    def start(self):
        ensure_redaction()  # handlers a library added since logging was set up redact too
        route_hub_errors()  # and gevent's own tracebacks go through them, not raw to stderr
        warn_if_descriptors_short(self.config["max_calls"],
                                  self.http.limits.max_connections if self.http else 0,
                                  len(self.config["nodes"]))
        if self.store_monitor is not None:
            self.store_monitor.start()
        if self.cluster is not None:
            self.cluster.start()
        self.pool.start()
        self.server.start()
        if self.http is not None:
            self.http.start()
        if self.agent is not None:
            self.agent.start()
        if self.callbacks is not None:
            self.callbacks.start()
        self.link_expiry.start()

    def stop(self, grace=None):
        """Stop taking calls, let the ones in progress finish (bounded), then drop the nodes."""
        grace = self.config["timeouts"]["shutdown_grace"] if grace is None else grace
        self.server.stop(grace=grace)
        self.pool.stop()
        if self.http is not None:
            self.http.stop()
        if self.agent is not None:
            self.agent.stop()
        if self.callbacks is not None:
            self.callbacks.stop()
        self.link_expiry.stop()
        if self.cluster is not None:
            self.cluster.stop()
        for gateway in self.gateways.values():
            gateway.close()
        for web_service in self.web_services.values():
            web_service.close()
        for provider in self.sms_providers.values():
            provider.close()
        for maker in self.payment_links.values():
            maker.close()
        if self.store_monitor is not None:
            self.store_monitor.stop()

    def ready(self):
        """Ready: taking calls, the payment store answering (a call could not be recorded
        otherwise) and at least ``min_nodes_up`` nodes connected (one by default; a node
        down only stops the agent API acting on its calls, whose flows run on their own
        sockets)."""
        return (self.server.listening and self.store.health.up
                and self.pool.connected_count() >= self.min_nodes_up)

    def readiness(self):
        """``(ready, details)`` for ``/readyz``: what a NOC needs to see why it is not ready."""
        details = {"listening": self.server.listening,
                   "calls_in_progress": self.server.active_calls,
                   "nodes": self.node_states(),
                   "nodes_up": self.pool.connected_count(),
                   "min_nodes_up": self.min_nodes_up,
                   "store": self.store.health.status()}
        if self.cluster is not None:
            details["cluster"] = self.cluster.status()
        return self.ready(), details

    def node_states(self):
        """Each node: its inbound connection up or not (and why not), its calls here now."""
        calls = self.call_nodes.in_progress()
        return {name: {"up": node.connected, "calls_in_progress": calls.get(name, 0),
                       "last_error": None if node.connected else node.last_error,
                       "secure_entry": node.sees_secure_entry}
                for name, node in self.pool.nodes.items()}

    def _choose_flow(self, channel, plan):
        """The call's flow: ``pay_flow``, else the tenant's number map, then the site's, else
        the tenant's default, then the site's (``select_in_order``)."""
        flows = self.config["flows"]
        return select_in_order(channel.variables, channel.destination_number, self.library.flows,
                               [plan.by_destination, flows["by_destination"]],
                               [plan.default_flow, flows["default"]])

    def _refuse_flow(self, channel, plan, flow):
        """Another tenant's flow: the call goes back to the dialplan before anything runs."""
        how = ("pay_flow" if channel.variables.get(FLOW_VARIABLE)
               else "destination %s" % channel.destination_number)
        log.warning("flow %s (chosen by %s) is not one of %s's flows (held by %s); returning "
                    "the call to the dialplan", flow.name, how, plan.describe(),
                    self.tenancy.held_by(flow.name))
        self.metrics.record_tenant_refusal(plan.name, "flow")
        self.metrics.calls.labels(plan.name, flow.name, WRONG_TENANT).inc()

    def handle_call(self, channel):
        """Run the call, counted under the node its socket came from (``call_nodes.py``)."""
        node = self.call_nodes.arrived(channel)
        try:
            # on the call's log lines where there are nodes to tell apart
            with log_context(node=node if self.pool.nodes else None):
                self._run_call(channel)
        finally:
            self.call_nodes.left(channel, node)

    def _run_call(self, channel):
        if self.cluster is not None:
            self._mark_taken(channel)
        tenant = resolve_tenant(channel.variables, self.tenants)
        plan = self.tenancy.plan(tenant)
        flow = self._choose_flow(channel, plan)
        with log_context(call=channel.uuid, tenant=tenant):
            if tenant == UNKNOWN_TENANT:
                log.warning("pay_tenant names no configured tenant; counted as unknown")
            if flow is None:
                log.warning("no flow for destination %s and no pay_flow variable; "
                            "returning the call to the dialplan", channel.destination_number)
                self.metrics.calls.labels(tenant, "none", "no-flow").inc()
                return
            if flow.name not in plan.flows:
                self._refuse_flow(channel, plan, flow)
                return
            with log_context(flow=flow.name):
                started = time.monotonic()
                log.info("call started")
                step_seconds = self.metrics.step_duration
                if self.agent is not None:
                    self.agent.call_started(channel)
                if self.cluster is not None:
                    self.cluster.calls.arrived(channel.uuid, tenant)
                outcome = None
                try:
                    outcome = FlowRunner(
                        flow, channel, self.engine_settings, log,
                        on_step=lambda step, seconds: step_seconds.labels(flow.name, step.kind)
                        .observe(seconds), tenant=tenant,
                        services=self._services(channel, plan, flow.name)).run()
                finally:
                    self._let_go(channel)
                    if self.agent is not None:
                        self.agent.call_ended(channel, outcome)
                    if self.cluster is not None:
                        self.cluster.calls.ended(channel.uuid)
                log.info("call ended: %s after %.1fs", outcome.result, time.monotonic() - started)
        self.metrics.calls.labels(tenant, flow.name, outcome.result).inc()
        if self._on_call_end is not None:
            self._on_call_end(channel, flow.name, outcome)


    @staticmethod
    def _mark_taken(channel):
        """This instance has the call: if it is lost mid-way, the dialplan's failover sends the
        caller to a person, not to the next instance (``orchestrator/cluster``)."""
        from orchestrator.cluster import NEXT_INSTANCE_VARIABLE, TAKEN
        try:
            channel.set_variable(NEXT_INSTANCE_VARIABLE, TAKEN)
        except Exception as exc:   # the call may be gone already; the flow will see it
            log.info("the call could not be marked taken: %s", type(exc).__name__)

    @staticmethod
    def _let_go(channel):
        """What the flow announced last is heard before the socket closes."""
        try:
            channel.flush_announcements()
        except Exception as exc:   # the call may be gone; the outcome is already decided
            log.info("last announcements not played: %s", type(exc).__name__)


def store_settings(config):
    """``store`` of the config, the defaults filling what a config built in code left out."""
    return dict(DEFAULTS["store"], **config["store"])


def open_configured_store(config):
    """The PostgreSQL store ``store.url`` names (``store.password``, when set, over the URL's),
    or ConfigError saying why it cannot be opened (the message never holds the password)."""
    settings = store_settings(config)
    try:
        return open_store(settings["url"], password=settings["password"] or None,
                          pool_size=settings["pool_size"], timeout=settings["timeout"],
                          retries=settings["retries"])
    except StoreCannotOpen as exc:
        raise ConfigError("%s: store.url: cannot open %s: %s" % (config.source, exc.path, exc.reason))
    except StoreError as exc:
        raise ConfigError("%s: store.url: %s" % (config.source, exc))


def serve_forever(service, stop_signal):
    """Run until ``stop_signal`` (a gevent Event) is set, then stop gracefully."""
    service.start()
    stop_signal.wait()
    log.info("stopping: no new calls; waiting for calls in progress")
    service.stop()
    gevent.sleep(0)
