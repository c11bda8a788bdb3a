"""The panel's own logic in a real headless Chromium, against a tiny fake API
(tests/support/fake_agent_api.py): amount conversion, what it sends, where the token goes, how
it shows progress and errors, and that it refuses to show anything that is not a mask. The real
backend is in test_panel_e2e.py."""
import gevent
import pytest
from selenium.webdriver.common.by import By

from tests.support.fake_agent_api import TOKEN, FakeServer
from tests.support.panel_page import (assert_no_card_digits, by_id, field_status, fill_start_form,
                                    keyboard_start, no_horizontal_scroll, open_panel, screenshot,
                                    sign_in, text, wait, wait_field, wait_result)

CALL = "0b1d2c3e-aaaa-4bbb-8ccc-123456789abc"


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def convert(driver, amount, currency):
    return driver.execute_async_script(
        "const done = arguments[2];"
        "Promise.all([import('./panel.js'), fetch('currencies.json').then(r => r.json())])"
        ".then(([m, table]) => done(m.toMinorUnits(arguments[0], arguments[1], table)))"
        ".catch(e => done({crash: String(e)}));", amount, currency)


@pytest.mark.parametrize("amount, currency, minor", [
    ("12.50", "EUR", 1250), ("12.5", "EUR", 1250), ("12", "EUR", 1200), (".5", "EUR", 50),
    (" 1 250.00 ", "eur", 125000), ("0.01", "USD", 1), ("12.500", "EUR", 1250),
    ("1250", "JPY", 1250), ("1250.0", "JPY", 1250), ("1.234", "KWD", 1234), ("0.005", "KWD", 5),
    ("9999999999.99", "EUR", 999999999999),
])
def test_amount_in_major_units_becomes_integer_minor_units(fake, browser, amount, currency, minor):
    open_panel(browser, fake.url)
    assert convert(browser, amount, currency)["minor"] == minor


@pytest.mark.parametrize("amount, currency, field, words", [
    ("12.345", "EUR", "amount", "EUR has 2 decimal places"),
    ("12.5", "JPY", "amount", "JPY has no decimal places"),
    ("1.2345", "KWD", "amount", "KWD has 3 decimal places"),
    ("0", "EUR", "amount", "more than zero"), ("0.00", "EUR", "amount", "more than zero"),
    ("-5", "EUR", "amount", "digits and a decimal point"),
    ("12,50", "EUR", "amount", "digits and a decimal point"),
    ("1e3", "EUR", "amount", "digits and a decimal point"), ("", "EUR", "amount", "Enter the amount"),
    ("10000000000", "EUR", "amount", "too large"), ("12", "XXX", "currency", "Unknown currency"),
])
def test_amounts_that_cannot_be_charged_are_refused_in_words(fake, browser, amount, currency, field,
                                                             words):
    open_panel(browser, fake.url)
    answer = convert(browser, amount, currency)
    assert answer["field"] == field and words in answer["error"]


def plain_words(driver, texts):
    return driver.execute_async_script(
        "const done = arguments[1];"
        "import('./panel.js').then(m => done(arguments[0].map(m.plainWords)))"
        ".catch(e => done({crash: String(e)}));", texts)


def test_shown_text_keeps_ids_readable_and_hides_a_card_however_split(fake, browser):
    open_panel(browser, fake.url)
    readable = ["INV-20261201-0042", "sbx_cdda1234567b5421", "0d2c1e0a-1111-4222-8333-444455556666",
                "order 123456789012", "+15551230000", "visa 411111******1111"]
    assert plain_words(browser, readable) == readable
    cards = ["4111.1111/1111#1111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111_1111_1111_1111",
             "378282246310005", "ref 4111111111111111 1230"]
    shown = plain_words(browser, cards)
    assert shown[:5] == ["[hidden]"] * 5 and shown[5] == "ref [hidden]"


def test_prefilled_form_sends_minor_units_and_keeps_the_token_out_of_urls(fake, browser, artifacts):
    open_panel(browser, fake.url, amount="12.50", currency="EUR", reference="INV-1", call_uuid=CALL)
    assert TOKEN not in browser.current_url
    sign_in(browser, TOKEN)
    assert by_id(browser, "amount").get_attribute("value") == "12.50"
    assert by_id(browser, "call-uuid").get_attribute("value") == CALL
    assert text(browser, "amount-preview") == "Charges 12.50 EUR"
    by_id(browser, "start-button").click()
    wait(browser, lambda d: by_id(d, "progress-body").is_displayed(), "the progress view")
    posts = [r for r in fake.api.requests if r["method"] == "POST"]
    assert posts[0]["body"] == {"call_uuid": CALL, "amount": 1250, "currency": "EUR",
                                "reference": "INV-1", "mode": "transfer"}
    wait(browser, lambda d: any(r["path"].endswith("/events") for r in fake.api.requests),
         "the events stream")
    for request in fake.api.requests:
        if request["path"].endswith("/events"):
            assert request["query"]["access_token"] == [TOKEN]
        else:
            assert request["authorization"] == "Bearer " + TOKEN and not request["query"]
    stored = browser.execute_script("return [Object.entries(sessionStorage), localStorage.length]")
    assert stored == [[["payivr.agent.token", TOKEN]], 0]
    screenshot(browser, artifacts, "fake-01-started")


def test_progress_is_shown_masked_and_a_card_number_is_never_shown(fake, browser, artifacts):
    open_panel(browser, fake.url, amount="1250", currency="JPY", reference="INV-2", call_uuid=CALL)
    sign_in(browser, TOKEN)
    assert text(browser, "amount-preview") == "Charges 1250 JPY"
    by_id(browser, "start-button").click()
    wait(browser, lambda d: field_status(d, "number")[0] == "pending", "the field list")
    session_id = next(iter(fake.api.sessions))
    assert [r["body"]["amount"] for r in fake.api.requests if r["method"] == "POST"] == [1250]
    push = lambda event, data: fake.api.push(session_id, event, data)  # noqa: E731
    push("state", {"state": "collecting"})
    push("field", {"field": "number", "state": "typing", "digits": 7})
    assert "Caller is typing (7 keys)" in wait_field(browser, "number", "typing")
    # a backend slip: an unmasked number must not reach the screen, nor the page at all
    push("field", {"field": "number", "state": "valid", "masked": "visa 4111111111111111"})
    assert wait_field(browser, "number", "valid") == "Valid"
    push("field", {"field": "number", "state": "valid", "masked": "visa 411111******1111", "attempt": 1})
    wait(browser, lambda d: "411111******1111" in field_status(d, "number")[1], "the masked number")
    push("field", {"field": "expiry", "state": "invalid", "error_type": "invalid-date", "attempt": 1})
    assert wait_field(browser, "expiry", "invalid") == "Invalid: not a valid expiry date (attempt 1)"
    push("field", {"field": "expiry", "state": "valid", "masked": "**/**", "attempt": 2})
    assert wait_field(browser, "expiry", "valid") == "Valid: **/**"
    push("field", {"field": "security_code", "state": "valid", "masked": "***", "attempt": 1})
    assert wait_field(browser, "security_code", "valid") == "Valid: ***"
    push("state", {"state": "authorizing"})
    wait(browser, lambda d: text(d, "p-state") == "Authorizing with the bank", "authorizing")
    assert not by_id(browser, "cancel-button").is_enabled()
    push("authorization", {"status": "declined", "decline_reason": "insufficient_funds"})
    push("state", {"state": "declined"})
    # a service that does not say what follows: the flow may still ask for another card
    assert wait_result(browser, "declined") == ("Declined: The card has insufficient funds. The "
                                                "payment flow goes on; it may ask the caller for "
                                                "another card.")
    assert text(browser, "p-state") == "Declined"
    push("state", {"state": "ended"})
    wait(browser, lambda d: text(d, "p-state") == "Declined (finished)", "the session to end")
    assert text(browser, "result") == "Payment declined: The card has insufficient funds."
    assert all(not b.is_enabled() for b in browser.find_elements(By.CSS_SELECTOR, ".recapture"))
    assert by_id(browser, "fields").get_attribute("aria-live") == "polite"
    screenshot(browser, artifacts, "fake-02-declined")
    assert_no_card_digits(browser, "4111111111111111")


def test_recapture_and_cancel_post_to_the_session(fake, browser):
    open_panel(browser, fake.url, amount="5", currency="EUR", reference="INV-3", call_uuid=CALL)
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: field_status(d, "expiry")[0] == "pending", "the field list")
    session_id = next(iter(fake.api.sessions))
    browser.find_element(By.CSS_SELECTOR, 'li[data-field="expiry"] .recapture').click()
    wait(browser, lambda d: any(r["path"].endswith("/recapture") for r in fake.api.requests), "recapture")
    recapture = [r for r in fake.api.requests if r["path"].endswith("/recapture")][0]
    assert recapture["path"] == "/sessions/%s/recapture" % session_id
    assert recapture["body"] == {"field": "expiry"}
    by_id(browser, "cancel-button").click()
    assert wait_result(browser, "cancelled") == "The payment was cancelled."


def test_an_answer_older_than_the_stream_does_not_undo_it(fake, browser):
    """The agent's charge is answered once the gateway has: a decline, the session as it was
    then. The flow then waits for the agent's decision, and the stream says so; on a loaded host
    the stream's word can reach the page before the charge's answer does. The older answer (a
    lower version) must not hide the decision; a newer one is taken."""
    open_panel(browser, fake.url, amount="12.50", currency="EUR", reference="INV-7", call_uuid=CALL)
    sign_in(browser, TOKEN)
    browser.find_element(By.CSS_SELECTOR, 'input[name="charge"][value="agent"]').click()
    by_id(browser, "start-button").click()
    wait(browser, lambda d: field_status(d, "number")[0] == "pending", "the field list")
    session_id = next(iter(fake.api.sessions))
    assert fake.api.sessions[session_id]["charge"] == "agent"
    push = lambda event, data: fake.api.push(session_id, event, data)  # noqa: E731
    for field, masked in (("number", "visa 400000******9995"), ("expiry", "**/**"),
                          ("security_code", "***")):
        push("field", {"field": field, "state": "valid", "attempt": 1, "masked": masked})
    push("charge", {"awaiting": "charge", "attempt": 1})
    push("state", {"state": "awaiting_charge"})
    button = by_id(browser, "charge-button")
    wait(browser, lambda d: button.is_displayed() and button.is_enabled(), "the Charge button")
    button.click()
    wait(browser, lambda d: any(r["path"].endswith("/charge") for r in fake.api.requests), "the charge")
    declined = {"status": "declined", "decline_reason": "insufficient_funds"}
    after = {"next": "agent_decides", "card": 1, "cards_allowed": None}
    push("state", {"state": "authorizing"})
    push("authorization", dict(declined, after_decline=after))
    push("state", {"state": "declined"})
    answered = dict(fake.api.sessions[session_id], state="declined", result=declined,
                    after_decline=after, charge_attempt=1, awaiting_decision=False)
    push("charge", {"awaiting": "decision", "attempt": 2})
    decided = lambda d: "Ask for another card" in text(d, "result")  # noqa: E731
    wait(browser, decided, "the decision after the decline")
    # the charge's answer, taken before the flow waited for the agent
    assert answered["version"] < fake.api.sessions[session_id]["version"]
    fake.api.charge_answers.put(("200 OK", answered))
    wait(browser, lambda d: d.execute_script("return performance.getEntriesByType('resource')"
                                             ".some(e => e.name.endsWith('/charge'))"),
         "the charge's answer")
    gevent.sleep(0.5)    # for the page to read it
    assert decided(browser) and by_id(browser, "another-card-button").is_displayed()
    assert text(browser, "p-state") == "Declined: waiting for the agent (another card or cancel)"
    # an answer as new as the stream is taken: the cancel's
    by_id(browser, "cancel-button").click()
    assert wait_result(browser, "cancelled") == "The payment was cancelled."


def test_a_field_the_api_refuses_is_marked_and_focused(fake, browser):
    fake.api.start_error = ("404 Not Found", {"error": "call_not_found", "field": "call_uuid",
                                              "message": "No such call in progress."})
    open_panel(browser, fake.url, amount="5", currency="EUR", reference="INV-4", call_uuid=CALL)
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: text(d, "call_uuid-error") == "No such call in progress.", "the field error")
    assert by_id(browser, "call-uuid").get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element.get_attribute("id") == "call-uuid"


def test_an_amount_the_page_cannot_convert_is_never_sent(fake, browser):
    open_panel(browser, fake.url, amount="12.345", currency="EUR", reference="INV-5", call_uuid=CALL)
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: text(d, "amount-error") == "EUR has 2 decimal places.", "the amount error")
    assert browser.switch_to.active_element.get_attribute("id") == "amount"
    assert not [r for r in fake.api.requests if r["method"] == "POST"]


def test_stay_mode_refused_is_disabled_with_the_backends_message(fake, browser, artifacts):
    fake.api.start_error = ("409 Conflict", {"error": "mode_unavailable", "field": "mode",
                                             "message": "Stay mode is not available yet."})
    open_panel(browser, fake.url, amount="5", currency="EUR", reference="INV-6", call_uuid=CALL,
               mode="stay")
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: "Stay mode is not available yet." in text(d, "mode-error"), "the message")
    assert not by_id(browser, "mode-stay").is_enabled()
    checked = browser.find_element(By.CSS_SELECTOR, 'input[name="mode"]:checked')
    assert checked.get_attribute("value") == "transfer"
    screenshot(browser, artifacts, "fake-03-stay-unavailable")


def test_a_wrong_token_is_refused_and_not_kept(fake, browser):
    open_panel(browser, fake.url)
    by_id(browser, "token").send_keys("not-the-token")
    by_id(browser, "sign-in-button").click()
    wait(browser, lambda d: text(d, "token-error") == "This token was not accepted.", "the refusal")
    assert browser.execute_script("return sessionStorage.length") == 0
    assert not by_id(browser, "workspace").is_displayed()


def test_a_signed_in_tab_stays_signed_in_on_reload_and_signs_out(fake, browser):
    open_panel(browser, fake.url)
    sign_in(browser, TOKEN)
    open_panel(browser, fake.url)
    wait(browser, lambda d: by_id(d, "workspace").is_displayed(), "the workspace after reload")
    by_id(browser, "sign-out").click()
    assert browser.execute_script("return sessionStorage.length") == 0
    assert by_id(browser, "token").is_displayed()


def test_active_sessions_are_listed_and_can_be_watched(fake, browser):
    open_panel(browser, fake.url, amount="7.25", currency="GBP", reference="INV-7", call_uuid=CALL)
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: by_id(d, "sessions-table").is_displayed(), "the sessions table")
    rows = browser.find_elements(By.CSS_SELECTOR, "#sessions-table tbody tr")
    assert len(rows) == 1 and "INV-7" in rows[0].text
    by_id(browser, "close-button").click()
    assert by_id(browser, "progress-idle").is_displayed()
    rows[0].find_element(By.TAG_NAME, "button").click()
    wait(browser, lambda d: text(d, "p-reference") == "INV-7", "the watched session")


def test_layout_fits_1366_by_768_without_horizontal_scrolling(fake, browser, artifacts):
    long_reference = "REF-" + "W" * 60
    open_panel(browser, fake.url, amount="12.50", currency="EUR", reference=long_reference,
               call_uuid=CALL)
    sign_in(browser, TOKEN)
    by_id(browser, "start-button").click()
    wait(browser, lambda d: field_status(d, "number")[0] == "pending", "the field list")
    gevent.sleep(0.2)
    scroll_width, client_width, inner = no_horizontal_scroll(browser)
    assert inner == 1366 or client_width <= 1366
    assert scroll_width <= 1366 and scroll_width <= client_width
    screenshot(browser, artifacts, "fake-04-layout-1366")


def test_sign_in_and_start_with_the_keyboard_alone(fake, browser, artifacts):
    open_panel(browser, fake.url)
    keyboard_start(browser, TOKEN, "0.125", "KWD", "INV-8", CALL)
    posts = [r["body"] for r in fake.api.requests if r["method"] == "POST"]
    assert posts == [{"call_uuid": CALL, "amount": 125, "currency": "KWD", "reference": "INV-8",
                      "mode": "transfer"}]
    screenshot(browser, artifacts, "fake-05-keyboard")


def sms_recipient(driver, value, to_caller=False):
    return driver.execute_async_script(
        "const done = arguments[2];"
        "import('./panel.js').then(m => done(m.smsRecipient(arguments[0], arguments[1])))"
        ".catch(e => done({crash: String(e)}));", value, to_caller)


def test_the_text_recipient_is_a_phone_number_or_the_callers_own(fake, browser):
    open_panel(browser, fake.url)
    assert sms_recipient(browser, " +34 600 111 222 ") == {"sms_to": "+34600111222"}
    assert sms_recipient(browser, "600111222") == {"sms_to": "600111222"}
    assert sms_recipient(browser, "") == {}
    assert sms_recipient(browser, "anything", True) == {"sms_to": "caller"}
    for bad in ("12345", "+34 600 abc", "+9999999999999999", "(34) 600-111"):
        assert "Enter a phone number" in sms_recipient(browser, bad)["error"], bad
    for card in ("4111111111111111", "4111 1111 1111 1111"):
        refused = sms_recipient(browser, card)
        assert refused["cardLike"] and "1111" not in refused["error"]


def test_a_link_and_a_text_are_asked_for_only_when_chosen(fake, browser):
    open_panel(browser, fake.url, amount="12.50", currency="EUR", reference="INV-8", call_uuid=CALL)
    sign_in(browser, TOKEN)
    fill_start_form(browser, method="link", sms_to="+34 600 111 222")
    by_id(browser, "start-button").click()
    wait(browser, lambda d: by_id(d, "progress-body").is_displayed(), "the progress view")
    [post] = [r for r in fake.api.requests if r["method"] == "POST"]
    assert post["body"] == {"call_uuid": CALL, "amount": 1250, "currency": "EUR", "reference": "INV-8",
                            "mode": "transfer", "method": "link", "sms_to": "+34600111222"}
    session_id = next(iter(fake.api.sessions))
    fake.api.push(session_id, "sms", {"purpose": "link", "result": "sent", "to": "+********222"})
    wait(browser, lambda d: text(d, "p-sms") == "Payment link texted to +********222.", "the text")
    # a number the service would not hide is not shown
    fake.api.push(session_id, "sms", {"purpose": "link", "result": "error", "to": "+34600111222"})
    wait(browser, lambda d: text(d, "p-sms") == "Payment link could not be texted; nothing was charged.",
         "the failed text")
    fake.api.push(session_id, "state", {"state": "link_sent"})
    assert wait_result(browser, "link_sent").startswith("A payment link was texted to the caller.")


def test_a_card_number_as_the_recipient_is_refused_cleared_and_never_sent(fake, browser):
    open_panel(browser, fake.url, amount="5", currency="EUR", reference="INV-9", call_uuid=CALL)
    sign_in(browser, TOKEN)
    fill_start_form(browser, sms_to="4111 1111 1111 1111")
    by_id(browser, "start-button").click()
    wait(browser, lambda d: "looks like a card number" in text(d, "sms_to-error"), "the refusal")
    assert by_id(browser, "sms-to").get_attribute("value") == ""
    assert browser.switch_to.active_element.get_attribute("id") == "sms-to"
    assert not [r for r in fake.api.requests if r["method"] == "POST"]
    assert_no_card_digits(browser, "4111111111111111", "4111 1111")
    fill_start_form(browser, sms_to="12345")
    by_id(browser, "start-button").click()
    wait(browser, lambda d: "Enter a phone number" in text(d, "sms_to-error"), "the phone error")
    assert not [r for r in fake.api.requests if r["method"] == "POST"]


def test_signing_in_asks_who_the_token_is_once(fake, browser):
    """GET /me answers both the header's words and the refund permission: one request."""
    open_panel(browser, fake.url)
    sign_in(browser, TOKEN)
    # the calls are asked for once /me and the languages have answered (signIn's order)
    wait(browser, lambda d: any(r["path"].endswith("/calls") for r in fake.api.requests),
         "the calls list after sign-in")
    gevent.sleep(0.3)
    asked = [r["path"] for r in fake.api.requests if r["path"].endswith("/me")]
    assert asked == ["/me"], asked
