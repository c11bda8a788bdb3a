"""Redsys card on file ("pago por referencia") against the local stand-in for
trataPeticionREST over HTTPS (tests/support/fake_redsys.py, the one the refund tests use,
which issues identifiers): the first operation asks DS_MERCHANT_IDENTIFIER=REQUIRED with the COF fields and
keeps the Ds_Merchant_Identifier it answers; storing without a charge is that operation for
amount 0; a later merchant-initiated charge sends the identifier, no card, MIT and the COF
network reference; an identifier Redsys never issued is refused and nothing is charged."""
import pytest

from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.gateways.redsys import order_number
from orchestrator.payments.gateways.tokens import StoredCard, Tokenized
from orchestrator.payments.money import Money
from tests.support.fake_redsys import KEY, PAN
from tests.support.cards import make_card


@pytest.fixture
def gateway(redsys, tls_files):
    gateway = build_gateway("redsys", {"type": "redsys", "merchant_code": "999008881",
                                       "terminal": 1, "secret_key": KEY, "url": redsys["url"],
                                       "verify": tls_files[0], "read_timeout": 0.3,
                                       "card_on_file": True})
    yield gateway
    gateway.close()


def test_the_first_charge_asks_for_the_identifier_and_keeps_it(gateway, redsys):
    result = gateway.authorize(1000, "EUR", "r", make_card(PAN), order_number("4821", 1),
                               store_card=True)
    assert result.status == "approved"
    token = result.card_token
    assert token.gateway_token == redsys["identifiers"][0]
    assert (token.brand, token.last4, token.expiry_month, token.expiry_year,
            token.network_reference) == ("visa", "0004", "12", "2030", "MCC0123456789X")
    sent = redsys["requests"][-1]
    assert (sent["DS_MERCHANT_IDENTIFIER"], sent["DS_MERCHANT_COF_INI"],
            sent["DS_MERCHANT_COF_TYPE"], sent["DS_MERCHANT_EXCEP_SCA"]) == \
        ("REQUIRED", "S", "C", "MOTO")
    assert sent["DS_MERCHANT_PAN"] == PAN   # the first operation carries the card


def test_storing_without_a_charge_is_the_operation_for_amount_0(gateway, redsys):
    answer = gateway.tokenize(make_card(PAN), "verify", order_number("4821", 2))
    assert isinstance(answer, Tokenized)
    assert redsys["requests"][-1]["DS_MERCHANT_AMOUNT"] == "0"
    assert redsys["charged"] == {}


def test_a_later_charge_is_merchant_initiated_with_the_identifier_and_no_card(gateway, redsys):
    first = gateway.authorize(1000, "EUR", "r", make_card(PAN), order_number("4821", 3),
                              store_card=True).card_token
    order = order_number("4821", 4)
    result = gateway.charge_token(Money(450, "EUR"), "later",
                                  StoredCard(first.gateway_token, "visa", "0004",
                                             first.network_reference), order)
    assert result.status == "approved" and result.auth_code == "654322"
    sent = redsys["requests"][-1]
    assert sent == {"DS_MERCHANT_AMOUNT": "450", "DS_MERCHANT_ORDER": order,
                    "DS_MERCHANT_MERCHANTCODE": "999008881", "DS_MERCHANT_CURRENCY": "978",
                    "DS_MERCHANT_TRANSACTIONTYPE": "0", "DS_MERCHANT_TERMINAL": "1",
                    "DS_MERCHANT_IDENTIFIER": first.gateway_token,
                    "DS_MERCHANT_DIRECTPAYMENT": "true", "DS_MERCHANT_EXCEP_SCA": "MIT",
                    "DS_MERCHANT_COF_INI": "N", "DS_MERCHANT_COF_TYPE": "C",
                    "DS_MERCHANT_COF_TXNID": "MCC0123456789X",
                    "DS_MERCHANT_PRODUCTDESCRIPTION": "later"}
    assert redsys["charged"][order] == 450


def test_an_identifier_redsys_never_issued_is_refused(gateway, redsys):
    order = order_number("4821", 5)
    result = gateway.charge_token(Money(450, "EUR"), "later",
                                  StoredCard("f" * 40, "visa", "0004"), order)
    assert result.status == "error" and not result.outcome_unknown
    assert order not in redsys["charged"]


def test_without_card_on_file_the_terminal_is_not_asked(redsys, tls_files):
    plain = build_gateway("redsys", {"type": "redsys", "merchant_code": "999008881",
                                     "terminal": 1, "secret_key": KEY, "url": redsys["url"],
                                     "verify": tls_files[0]})
    assert plain.card_on_file_modes() == ()
    assert plain.tokenize(make_card(PAN), "v", order_number("4821", 6)).kind == "unsupported"
    assert redsys["requests"] == []
    plain.close()
