"""Refund from the panel, in a real headless Chromium against the real service (the agent API's
rig with alice allowed to refund, bob not): after an approved payment alice sees Refund and
Void, is asked to confirm, and sees the result; a double click on Confirm refunds once; bob's
panel shows no refund at all."""
import pytest

from tests.support.agent import PAYING_CALLER, TOKENS, Rig
from tests.support.panel_page import (assert_no_card_digits, by_id, open_panel, screenshot,
                                      sign_in, text, wait, wait_result)

PAN = "4111111111111111"


def alice_refunds(config):
    for entry in config["agent_api"]["tokens"]:
        if entry["token"] == TOKENS["alice"]:
            entry["refund"] = True


@pytest.fixture
def rig(tmp_path, chromium):
    rig = Rig(tmp_path, fail_first=0, configure=alice_refunds)
    rig.url = "http://127.0.0.1:%d" % rig.service.http_address[1]
    yield rig
    rig.stop()


def pay(rig, browser, token, agent="alice"):
    call, _ = rig.call(PAYING_CALLER, agent=agent)
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-1",
               call_uuid=call.uuid)
    sign_in(browser, token)
    by_id(browser, "start-button").click()
    wait_result(browser, "approved")
    call.wait(timeout=60)
    wait(browser, lambda d: text(d, "p-state") == "Approved (finished)", "the session to end")


def test_an_agent_refunds_part_of_a_payment_after_confirming(rig, browser, artifacts):
    pay(rig, browser, TOKENS["alice"])
    wait(browser, lambda d: by_id(d, "refund-box").is_displayed(), "the refund box")
    assert "Paid 12.50 EUR card ending 1111" in text(browser, "refund-summary")
    assert "up to 12.50 EUR may be refunded" in text(browser, "refund-summary")
    by_id(browser, "refund-amount").send_keys("5.00")
    by_id(browser, "refund-button").click()
    wait(browser, lambda d: by_id(d, "refund-confirm").is_displayed(), "the confirmation")
    assert text(browser, "refund-confirm-text") == "Refund 5.00 EUR to the card ending 1111?"
    assert rig.sandbox.reversals.refunds == []          # nothing before the confirmation
    screenshot(browser, artifacts, "refund-01-confirm")
    confirm = by_id(browser, "refund-confirm-yes")
    browser.execute_script("arguments[0].click(); arguments[0].click();", confirm)  # a double click
    wait(browser, lambda d: text(d, "refund-result") == "Refunded 5.00 EUR.", "the result")
    assert "Refunded so far 5.00 EUR; up to 7.50 EUR may be refunded." in text(browser, "refund-summary")
    assert [r["amount"] for r in rig.sandbox.reversals.refunds] == [500]
    assert not by_id(browser, "void-button").is_enabled()     # partly refunded: no void
    screenshot(browser, artifacts, "refund-02-done")
    assert_no_card_digits(browser, PAN, "4111 1111", "41111111")


def test_a_token_without_the_permission_sees_no_refund(rig, browser):
    pay(rig, browser, TOKENS["bob"], agent="bob")
    assert not by_id(browser, "refund-box").is_displayed()
    assert browser.execute_script("return document.getElementById('refund-box').hidden") is True
