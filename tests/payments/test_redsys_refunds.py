"""Redsys refunds (transaction type 3) against a local stand-in for trataPeticionREST over
HTTPS that keeps each order's charge and refunds (tests/support/fake_redsys.py): the request
carries no card data and names the original order; partial refunds add up; more than was charged is SIS0057, refused; a lost
answer is never re-sent; a void is unsupported (type 9 cancels only pre-authorisations)."""
import json

import pytest

from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.gateways.redsys import order_number
from orchestrator.payments.gateways.refund_results import RefundRefused, RefundTarget, Refunded
from orchestrator.payments.money import Money
from tests.support import fake_redsys
from tests.support.cards import make_card

KEY, PAN = fake_redsys.KEY, fake_redsys.PAN


@pytest.fixture
def gateway(redsys, tls_files):
    gateway = build_gateway("redsys", {"type": "redsys", "merchant_code": "999008881",
                                       "terminal": 1, "secret_key": KEY, "url": redsys["url"],
                                       "verify": tls_files[0], "read_timeout": 0.3})
    yield gateway
    gateway.close()


def charged(gateway, number):
    order = order_number("4821", number)
    assert gateway.authorize(1000, "EUR", "r", make_card(PAN), order).status == "approved"
    return RefundTarget(order, order, "654321", 1000, "EUR")


def test_partial_refunds_add_up_and_more_is_refused(gateway, redsys):
    target = charged(gateway, 1)
    assert gateway.refund(target, Money(600, "EUR"), "rf-0000001") == \
        Refunded(target.payment_key + ":777111", 600)
    refund = redsys["requests"][-1]
    assert refund == {"DS_MERCHANT_AMOUNT": "600", "DS_MERCHANT_ORDER": target.payment_key,
                      "DS_MERCHANT_MERCHANTCODE": "999008881", "DS_MERCHANT_CURRENCY": "978",
                      "DS_MERCHANT_TRANSACTIONTYPE": "3", "DS_MERCHANT_TERMINAL": "1"}
    assert PAN not in json.dumps(refund)
    assert gateway.refund(target, Money(500, "EUR"), "rf-0000002") == RefundRefused("over_refund")
    assert gateway.refund(target, Money(400, "EUR"), "rf-0000003").status == "succeeded"
    assert redsys["refunded"][target.payment_key] == 1000


def test_a_lost_refund_answer_is_not_sent_again_and_stays_unknown(gateway, redsys):
    target = charged(gateway, 2)
    redsys["hang"] = 1
    answer = gateway.refund(target, Money(300, "EUR"), "rf-0000004")
    assert answer.kind == "timeout" and answer.outcome_unknown
    assert [r["DS_MERCHANT_TRANSACTIONTYPE"] for r in redsys["requests"]] == ["0", "3"]
    assert gateway.refund_status("rf-0000004").kind == "unsupported"


def test_a_void_is_not_offered(gateway, redsys):
    target = charged(gateway, 3)
    assert gateway.void(target, "rf-0000005") == RefundRefused("unsupported")
    assert [r["DS_MERCHANT_TRANSACTIONTYPE"] for r in redsys["requests"]] == ["0"]
