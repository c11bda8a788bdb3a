"""The agent API wired into a running service: tokens, sessions, call control, webhooks.

The service builds one ``AgentHub`` when ``agent_api.tokens`` is set and tells it when a call
starts and ends; the hub feeds the sessions with the flow's payment events and gives the card
step its agent's requests (cancel, recapture).
"""
import logging

import gevent

from orchestrator.engine.steps.transfer_back import AGENT_LEG_DETAIL

from .api import AgentApi
from .control import CallControl
from .sessions import SessionRegistry
from .settings import TokenTable
from .webhooks import WebhookNotifier

log = logging.getLogger(__name__)




class AgentHub:
    def __init__(self, service, settings):
        self.settings = settings
        self.registry = SessionRegistry()
        self.control = CallControl(service.pool, settings, self.registry)
        self.webhooks = WebhookNotifier(settings["webhooks"], metrics=service.metrics)
        self.registry.listeners.append(self.webhooks.notify)
        self.api = AgentApi(TokenTable(settings["tokens"]), self.registry, self.control,
                            service.library, settings)

    def start(self):
        self.webhooks.start()

    def stop(self):
        self.webhooks.stop()

    def on_payment_event(self, channel, kind, fields):
        self.registry.on_payment_event(channel, kind, fields)

    def requests_for(self, channel):
        """The card step's view: ``take(kinds)`` -> the agent's pending request or None."""
        return lambda kinds=("cancel", "recapture"): self.registry.take_request(channel, kinds)

    def call_started(self, channel):
        self.registry.call_started(channel)

    def call_ended(self, channel, outcome):
        session = self.registry.call_ended(channel)
        if session is None:
            return
        if outcome is not None and outcome.detail == AGENT_LEG_DETAIL:
            session.bridged_back = True
        gevent.spawn(self.control.release_agent, session)
