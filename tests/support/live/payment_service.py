"""The Service a live payment test runs: the shipped card_payment flow (its amount fixed, as
the dialplan would set it), the sandbox gateway, a store in the test's folder, and a hook that
prepares each call's line before the flow runs (what a site's dialplan or CDR setup would do)."""
import os
import re

import gevent.event
import yaml

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from tests.support.live.fsprocess import REPO


class PaymentService:
    def __init__(self, tmp_path, live_switch, reference, prepare_line, amount="1250",
                 currency="EUR", **settings):
        """``prepare_line(channel)`` runs on each call before its flow, which charges
        ``amount`` minor units of ``currency``; ``settings`` replace the config's (``nodes``,
        ``http``). Every call's channel and outcome is kept in
        ``calls``, in the order they ended; ``ended`` is the first outcome."""
        flows = tmp_path / "flows"
        flows.mkdir()
        shipped = open(os.path.join(REPO, "flows", "card_payment.yaml"), encoding="utf-8").read()
        fixed = re.sub(r"(?m)^vars:\n(  .*\n)+",
                       "vars: {amount: '%s', currency: %s, reference: %s}\n"
                       % (amount, currency, reference), shipped)
        assert fixed != shipped
        (flows / "card_payment.yaml").write_text(fixed)
        self.sandbox = SandboxGateway().start()
        host, port = live_switch.socket_address
        config = tmp_path / "orchestrator.yaml"
        config.write_text(yaml.safe_dump(dict({
            "listen": {"host": host, "port": port}, "linger_seconds": 2,
            "http": {"enabled": False},
            "flows": {"directory": str(flows), "default": "card_payment"},
            "store": {"path": str(tmp_path / "payments.sqlite")},
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": self.sandbox.url}]},
            **settings)))
        self.ended = gevent.event.AsyncResult()
        self.calls = []

        def call_ended(channel, flow, outcome):
            self.calls.append((channel, outcome))
            self.ended.set(outcome)

        self.service = Service(load_config(str(config)), on_call_end=call_ended)
        handle = self.service.handle_call

        def prepared(channel):
            prepare_line(channel)
            handle(channel)

        self.service.server._handler = prepared

    def start(self):
        self.service.start()
        return self

    def stop(self):
        self.service.stop(grace=2)
        self.sandbox.stop()
