"""Pay by link: the caller is texted a link to pay outside the call, and the gateway's signed
webhook says when it is paid.

- ``settings.py``: the config's ``payment_links`` (each a way to make a link: a URL
  ``template`` or a ``hosted_page`` gateway call; its webhook secret; how long a link lasts),
  a tenant's own ones, and ``link_expiry``.
- ``makers.py``: making a link's URL for a recorded payment.
- ``settle.py``: what a webhook's notice does to the payment (once; mismatches flagged).
- ``webhook.py``: ``POST /webhooks/links/<name>`` on the service's HTTP server.
- ``expiry.py``: the running service's sweep declining the links that expired unpaid.

``send_payment_link`` (``engine/steps/send_payment_link.py``) is the step; the journal side is
``store/links.py``.
"""
from .makers import LinkError, LinkMaker, build_makers
from .settings import PAYMENT_LINKS_SCHEMA

__all__ = ["LinkError", "LinkMaker", "PAYMENT_LINKS_SCHEMA", "build_makers"]
