"""The agent API wired into a running service: tokens, sessions, call control, notices.

The service builds one ``AgentHub`` when ``agent_api.tokens`` is set and tells it when a call
starts and ends; the hub subscribes the sessions to the service's payment event bus and gives
the card steps their agent's requests (cancel, recapture, charge). Each session change goes to the
tenant's receiver through the service's status callbacks (``orchestrator/callbacks``): the
same outbox, lanes and signing as the IVR's own callbacks.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Tuple

import gevent

from orchestrator.engine.channel import Channel
from orchestrator.engine.runner import FlowOutcome
from orchestrator.payments.events import CallRef, PaymentEvent

from .api import AgentApi
from .card_retries import agent_decides_after_decline, cards_allowed
from .control import CallControl
from .durable import SessionRecorder, shown_from
from .sessions import SessionRegistry
from .settings import TokenTable

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.service import Service

log = logging.getLogger(__name__)
AgentRequest = Optional[Tuple[str, ...]]


class AgentHub:
    def __init__(self, service: "Service", settings: Mapping[str, Any]) -> None:
        self.settings = settings
        self.registry = SessionRegistry()
        self.registry.cards_allowed = self._cards_allowed
        self.registry.agent_decides_after_decline = self._agent_decides_after_decline
        self.control = CallControl(service.pool, settings, self.registry,
                                   calls=service.call_nodes,
                                   socket_address=getattr(service, "socket_address", None))
        callbacks = getattr(service, "callbacks", None)
        if callbacks is not None:
            self.registry.listeners.append(callbacks.writer.on_session_change)
        self._service = service
        # every session's latest state in the store, for any instance to read (durable.py)
        self.recorder: Optional[SessionRecorder] = None
        stored = None
        cluster = getattr(service, "cluster", None)
        table = None
        if service.store is not None:
            from orchestrator.store.sessions import SessionTable
            table = SessionTable(service.store.backend)
            self.recorder = SessionRecorder(table, instance=cluster.instance if cluster else None)
            self.registry.observers.append(self.recorder.changed)

            def stored(session_id: str) -> Optional[Mapping[str, Any]]:
                assert table is not None
                record = table.get(session_id)
                return shown_from(record) if record is not None else None
        self.api = AgentApi(TokenTable(settings["tokens"]), self.registry, self.control,
                            self.may_start, settings, tenants=service.tenants, stored=stored,
                            texting=self.texting_problem)
        # refunds and voids of recorded payments (payments_api.py): with a store and gateways
        self.refunds = None
        if service.store is not None and getattr(service, "gateways", None):
            from orchestrator.payments.refunds import Refunds

            from .payments_api import PaymentRoutes
            self.refunds = Refunds(service.store, service.gateways, getattr(service, "events", None))
            self.api.payments = PaymentRoutes(self.refunds)
        if service.store is not None:   # cards on file (cards_api.py)
            from .cards_api import CardRoutes
            self.api.cards = CardRoutes(service.store, getattr(service, "gateways", None) or {})
        self.api.charged_by_agent = self.charged_by_agent
        if cluster is not None and table is not None:
            # the calls and sessions other instances hold (remote.py)
            from orchestrator.store.instances import InstanceTable

            from .remote import Remote
            remote = Remote(cluster.relay, cluster.peers, table,
                            InstanceTable(service.store.backend), self.registry)
            remote.api = self.api
            self.api.remote = remote

    def _cards_allowed(self, flow: str) -> Optional[int]:
        """The cards ``flow`` takes from one caller, by its definition as loaded now."""
        library = self._service.library
        return cards_allowed(library[flow]) if flow in library else None

    def _agent_decides_after_decline(self, flow: str) -> bool:
        """Whether ``flow``, on a call the agent charges, waits for the agent after a decline."""
        library = self._service.library
        return agent_decides_after_decline(library[flow]) if flow in library else False

    def may_start(self, tenant: str, flow: str) -> bool:
        """Whether ``tenant``'s agents may start ``flow``: one of its own. Another tenant's is
        logged and counted here; the request is answered as for a flow that does not exist."""
        service = self._service
        if service.tenancy.may_run(tenant, flow):
            return True
        if flow in service.library:
            log.warning("agent API: tenant %s asked for flow %s, which is not its own (held "
                        "by %s); refused", tenant, flow, service.tenancy.held_by(flow))
            service.metrics.record_tenant_refusal(tenant, "flow")
        return False

    def charged_by_agent(self, flow: str) -> bool:
        """Whether ``flow`` can hold the card for the agent's charge: an ``agent_charge``
        step, which a start with ``"charge": "agent"`` needs (else the card would be charged
        the moment it is complete, against what the agent asked)."""
        library = self._service.library
        steps = library[flow].steps if flow in library else []
        return any(step.kind == "agent_charge" for step in steps)

    def texting_problem(self, tenant: str, flow: str, method: str,
                        sms_to: Optional[str]) -> Optional[str]:
        """Why ``tenant``'s ``flow`` cannot send what a start asks for, or None: a confirmation
        text (``sms_to``) needs a ``send_sms`` step, a link (``method: link``) a
        ``send_payment_link`` step, each naming an SMS provider (and a payment link) the
        config defines and the tenant may use (its own, or a top-level one granted to it).
        Asked before the call is touched, so the agent hears it at once rather than the
        caller reaching a flow that ends at its start."""
        service = self._service
        tenancy = service.tenancy
        providers = set(service.sms_providers) - set(tenancy.withheld_sms_providers(tenant))
        links = set(service.payment_links) - set(tenancy.withheld_payment_links(tenant))
        steps = service.library[flow].steps if flow in service.library else []
        wanted = (("send_payment_link",) if method == "link" else ()) + \
            (("send_sms",) if sms_to and method != "link" else ())
        for kind in wanted:
            configs = [step.action.config for step in steps if step.kind == kind]
            if not configs:
                return ("flow %s has no %s step: it cannot text the caller %s" %
                        (flow, kind, "a payment link" if kind == "send_payment_link"
                         else "a confirmation"))
            for config in configs:
                if config["provider"] not in providers:
                    return ("flow %s texts through SMS provider %r, which tenant %s has not "
                            "(its SMS providers: %s)"
                            % (flow, config["provider"], tenant,
                               ", ".join(sorted(providers)) or "none"))
                if kind == "send_payment_link" and config["link"] not in links:
                    return ("flow %s makes links with %r, which tenant %s has not (its "
                            "payment links: %s)"
                            % (flow, config["link"], tenant, ", ".join(sorted(links)) or "none"))
        return None

    def start(self) -> None:
        if self.recorder is not None:
            self.recorder.start()

    def stop(self) -> None:
        self.control.stop()
        if self.recorder is not None:
            self.recorder.stop()

    def on_payment_event(self, call: CallRef, event: PaymentEvent) -> None:
        self.registry.on_payment_event(call, event)

    def requests_for(self, channel: Channel) -> Callable[[Sequence[str]], AgentRequest]:
        """The card step's view: ``take(kinds)`` -> the agent's pending request or None."""
        def take(kinds: Sequence[str] = ("cancel", "recapture")) -> AgentRequest:
            return self.registry.take_request(channel, kinds)
        return take

    def call_started(self, channel: Channel) -> None:
        self.registry.call_started(channel)

    def call_ended(self, channel: Channel, outcome: Optional[FlowOutcome]) -> None:
        session = self.registry.call_ended(channel)
        if session is None:
            return
        if outcome is not None and outcome.to_agent_leg:
            session.bridged_back = True
        gevent.spawn(self.control.release_agent, session)
