"""A gateway that declines with hostile words, and the flow that pays with it: shared by the
simulator's proof (tests/payment_flows/test_hostile_gateway.py) and the real switch's
(tests/live/test_hostile_gateway.py).

The gateway answers every authorization ``declined`` with a ``${system(touch FILE)}``
expansion as its reason code and the card number and the expansion in its reason text: what a
compromised or careless acquirer could send, and what must never reach the switch.
"""
import json
from wsgiref.simple_server import WSGIRequestHandler, make_server

import gevent

FLOW = """
flow: hostile
vars: {amount: "%(amount)s", currency: "%(currency)s", reference: "%(reference)s"}
steps:
  - answer: {}
  - collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: hostile
      on: {declined: declined, error: out}
  - goto: out
  - id: declined
    announce: payment_declined
  - id: out
"""


def hostile_flow(ending, amount="${channel.pay_amount}", currency="${channel.pay_currency}",
                 reference="${channel.pay_reference}"):
    """The flow, ending with ``ending`` (a step's YAML, e.g. ``transfer_back: {to: dialplan}``);
    the amount, currency and reference from the channel unless given."""
    return FLOW % {"amount": amount, "currency": currency, "reference": reference} + \
        "    %s\n" % ending


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class HostileGateway:
    """The gateway on 127.0.0.1; ``url`` once started."""

    def __init__(self, pan, expansion):
        self.pan, self.expansion = pan, expansion
        self.server = make_server("127.0.0.1", 0, self.app, handler_class=_Quiet)
        self.url = "http://127.0.0.1:%d/pay" % self.server.server_port
        self._serving = None

    def app(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"status": "declined", "reason_code": self.expansion,
                            "reason_text": "card %s declined %s" % (self.pan, self.expansion)}
                           ).encode()]

    def start(self):
        self._serving = gevent.spawn(self.server.serve_forever, 0.05)
        return self

    def stop(self):
        self.server.shutdown()
        if self._serving is not None:
            self._serving.kill()

    def config(self):
        """The service config's gateway entry for it."""
        return {"name": "hostile", "type": "http", "url": self.url,
                "secret": "a-secret-of-sixteen-bytes", "max_attempts": 1}
