"""SMS texts hold fixed words and typed values only: never more of a card than its last four."""
import pytest

from orchestrator.catalog import Catalog
from orchestrator.sms import SmsTextError, check_template, fill, mask_number, phone_number
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


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_shipped_payment_link_text_carries_the_url(language):
    url = "https://pay.example/p/AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf"
    text = fill(Catalog.load(language).message("payment_link"),
                {"amount": "42.50", "currency": "EUR", "url": url})
    assert url in text and "42.50 EUR" in text and traces(text) == []


@pytest.mark.parametrize("url", ["https://pay.example/p/" + PAN, "https://pay.example/p/4111-1111-1111-1111",
                                 "http://pay.example/p/x", "https://pay.example/p/x y",
                                 "https://pay.example/p/${system(x)}", "javascript:alert(1)",
                                 "https://pay.example/" + "a" * 200, ""])
def test_a_url_that_is_not_one_to_text_is_refused(url):
    with pytest.raises(SmsTextError, match="url"):
        fill("Pay at {url}", {"url": url})


def test_a_loopback_sandbox_url_may_be_texted():
    assert fill("Pay at {url}", {"url": "http://127.0.0.1:8085/pay/abc"}) == "Pay at http://127.0.0.1:8085/pay/abc"


@pytest.mark.parametrize("number, shown", [
    ("+34600111222", "+********222"), ("600111222", "******222"), ("+34 600 111 222", "+********222"),
    ("12", "**"), ("", "***"), ("+34-600", "***"), ("caller", "***"), ("+٣٤٥٦٧٨٩", "***"),
])
def test_a_recipient_is_shown_with_its_last_three_digits_at_most(number, shown):
    assert mask_number(number) == shown


@pytest.mark.parametrize("text, number", [
    ("+34600111222", "+34600111222"), (" +34 600 111 222 ", "+34600111222"), ("123456", "123456"),
    ("12345", ""), ("+1234567890123456", ""), ("+34-600-111-222", ""), ("++34600111222", ""),
    ("34600111222\n", ""), (None, ""),
])
def test_a_phone_number_is_an_optional_plus_and_6_to_15_digits(text, number):
    assert phone_number(text) == number
