"""Status callbacks: every payment's progress and result, and every agent session's changes,
sent to the tenant's receiver from a durable outbox.

    settings.py   a receiver's settings (``tenants.<name>.webhook``), defaults filled
    bodies.py     what a callback says: an event, a journal row or a session change as JSON,
                  built from masks and fixed words only
    outbox.py     the ``outbox`` table: add a row (with the tenant's next seq), claim the due
                  ones, write down what became of them
    writer.py     who writes rows: a payment event subscriber, the journal's outcome hook (the
                  result in the outcome's own transaction) and the session registry's listener
    sender.py     who sends them: one lane per tenant, signed requests, retries with jittered
                  capped backoff, given up by the rules, delivered only after a 2xx

A row is written before anything is sent, so a restart sends what was left, and instances
sharing one store share the rows: a row is claimed (instance and until) before it is sent.
Delivery is at least once: a sender stopped between a receiver's 2xx and writing it down sends
that row again, under the same event id; receivers de-duplicate by ``event_id``.
"""
