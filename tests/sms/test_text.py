"""SMS texts hold fixed words and typed values only: never more of a card than its last four."""
import pytest

from orchestrator.catalog import Catalog
from orchestrator.sms import SmsTextError, check_template, fill
from tests.support.canary import CODE, EXPIRY, PAN, traces

VALUES = {"amount": "12.50", "currency": "EUR", "last4": "1111", "code": "048213", "auth_code": "A1B2C3"}


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_shipped_confirmation_fills_with_typed_values(language):
    text = fill(Catalog.load(language).message("payment_confirmed"), VALUES)
    assert "12.50 EUR" in text and "1111" in text and "048213" in text
    assert traces(text) == []


@pytest.mark.parametrize("name,value", [("last4", PAN), ("last4", "41111111"), ("code", PAN),
                                        ("auth_code", "${system(x)}"), ("amount", "12,50 EUR"),
                                        ("currency", "euros"), ("last4", ""), ("code", EXPIRY + CODE + "99999999")])
def test_a_value_not_of_its_shape_is_refused(name, value):
    template = "Paid {amount} {currency}, card {last4}, code {code}, auth {auth_code}."
    with pytest.raises(SmsTextError, match=name):
        fill(template, dict(VALUES, **{name: value}))


def test_a_template_may_name_only_the_typed_placeholders():
    with pytest.raises(SmsTextError, match="customer_name"):
        check_template("Dear {customer_name}, code {code}")
    with pytest.raises(SmsTextError, match="longer"):
        fill("x" * 321, {})
