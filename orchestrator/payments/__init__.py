"""Payments: card validation and the secret card type, money, and gateway connectors.

    card.py        CardData (the one type that holds digits), CardError, the validators
    validation.py  Luhn, brand, length, expiry, security code and postal code rules; the card
                   fields and field error types
    brands.py      IIN ranges and per-brand lengths
    money.py       Money (integer minor units + ISO 4217 currency), iso4217.py its table
    signing.py     HMAC request signatures (the http connector, the sandbox, status callbacks)
    gateways/      the gateway interface, retry/reconciliation policy, the registry of gateway
                   types and their connectors (sandbox, http, redsys); results and their
                   vocabularies (decline reasons, error kinds)
    ledger.py      the payment record at each step of an authorization (authorize, reconcile)
    events.py      the typed payment event stream steps publish and subscribers read
    sandbox.py     a local HTTP gateway with test cards, for demos and tests

The gateways build on card, money and signing and nothing here imports them but the ledger
(tests/payments/test_layering.py).

Nothing here logs or raises with a card digit in it; see card.py for what may be shown.
"""
