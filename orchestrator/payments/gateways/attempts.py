"""One payment attempt, as a gateway's idempotency key is built from it.

A key names one attempt at charging a card and nothing else, ever: not the call (a call may
pay twice, in two flow runs or after a restart), not a counter that starts again with each run.
So the key comes from what the store allocated for the attempt before the gateway hears of it:
its id (a random UUID) or its number from the store's own counter, with the store's tag. Each
connector says which (``Gateway.idempotency_key``): most take the id; Redsys, whose order
numbers are at most twelve characters, builds one from the number and the tag.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class PaymentAttempt:
    id: str          # the payment's id in the store: a random UUID, never reused
    number: int      # the store's payment number: never given twice by one store
    store_tag: str   # four digits naming the store (``store/migrations.py``)
