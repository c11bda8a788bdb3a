"""Test cards: numbers the sandbox gateway answers in a known way, and card data to hand to the
gateway code directly."""
import datetime

from orchestrator.payments.card import CardData

# by what the sandbox does with them (orchestrator/payments/sandbox.py), or what is wrong
CARD = {"visa": "4111111111111111", "mastercard": "5555555555554444", "amex": "378282246310005",
        "declined": "4000000000009995", "luhn_error": "4111111111111112"}
TODAY = datetime.date(2025, 6, 15)    # the day make_card's expiry dates are checked against


def make_card(number="4111111111111111", expiry="1230", code="123", postal=None,
              valid_brands=None):
    """A filled-in CardData, checked as if today were ``TODAY``."""
    card = CardData(valid_brands=valid_brands, today=TODAY)
    card.set_number(number)
    card.set_expiry(expiry)
    if code:
        card.set_security_code(code)
    if postal:
        card.set_postal_code(postal)
    return card
