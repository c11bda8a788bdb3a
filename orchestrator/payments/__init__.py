"""Payments: card validation and the secret card type, money, and gateway connectors.

    card.py        CardData (the one type that holds digits), CardError, the validators
    validation.py  Luhn, brand, length, expiry, security code and postal code rules
    brands.py      IIN ranges and per-brand lengths
    money.py       Money (integer minor units + ISO 4217 currency), iso4217.py its table
    gateways/      the gateway interface, retry/reconciliation policy, http and redsys connectors
    sandbox.py     a local HTTP gateway with test cards, for demos and tests

Nothing here logs or raises with a card digit in it; see card.py for what may be shown.
"""
