"""The agent API: a contact-centre agent starts and watches a card payment on a live call.

``settings`` (its config section), ``sessions`` (payment sessions fed by the flow's payment
events), ``ownership`` (whose a live call is, from the switch), ``control`` (what a session does
to the live call over ESL), ``api`` (the WSGI app under ``/api/v1``), ``audit`` (one audit line
per request), ``sse`` (live updates to a browser), ``durable`` (sessions in the store). Each
session change reaches the tenant's receiver through the status callbacks (orchestrator/callbacks).
This module imports nothing, so the config can import ``settings`` without the rest.
"""
