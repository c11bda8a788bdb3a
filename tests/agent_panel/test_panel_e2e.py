"""The panel end to end in a real headless Chromium against the real service: the agent API and
the panel served by the service on loopback, the simulated switch with a customer's call already
bridged to the agent, a scripted caller keying the card, and the sandbox gateway. The rig is the
agent API's own (tests/support/agent.py), so both suites exercise the same set-up."""
import json

import pytest
from selenium.webdriver.common.by import By

from tests.support.agent import PAYING_CALLER, TOKENS, Rig, texting_rig
from tests.support.panel_page import (assert_no_card_digits, by_id, field_status, fill_start_form,
                                    keyboard_start, no_horizontal_scroll, open_panel, screenshot,
                                    sign_in, text, wait, wait_field, wait_result)

PAN, EXPIRY, CODE = "4111111111111111", "1230", "737"
DECLINED_PAN = "4000000000009995"      # sandbox: declined, insufficient funds
DECLINED_CALLER = [{"wait_prompt": 3}, {"press": DECLINED_PAN + "#"}, {"wait_prompt": 4},
                   {"press": EXPIRY}, {"wait_prompt": 5}, {"press": CODE},
                   {"wait_prompt": 10}, {"hangup": {}}]   # hangs up when asked for another card


def watched_session(browser):
    """The id of the session the page watches."""
    return by_id(browser, "progress-body").get_attribute("data-session")


def events_urls(browser):
    """The events URLs the page opened whose responses have ended (resource timing)."""
    return browser.execute_script("return performance.getEntriesByType('resource')"
                                  ".map(e => e.name).filter(n => n.includes('/events'))")


@pytest.fixture
def rig(tmp_path, chromium):
    rig = Rig(tmp_path, fail_first=0)
    rig.url = "http://127.0.0.1:%d" % rig.service.http_address[1]
    yield rig
    rig.stop()


def test_a_full_payment_in_transfer_mode(rig, browser, artifacts):
    call, agent = rig.call(PAYING_CALLER)
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-1",
               call_uuid=call.uuid)
    screenshot(browser, artifacts, "e2e-01-sign-in")
    sign_in(browser, TOKENS["alice"])
    screenshot(browser, artifacts, "e2e-02-prefilled")
    by_id(browser, "start-button").click()
    assert wait_field(browser, "number", "valid") == "Valid: visa 411111******1111"
    assert wait_field(browser, "expiry", "valid") == "Valid: **/**"
    assert wait_field(browser, "security_code", "valid") == "Valid: ***"
    result = wait_result(browser, "approved")
    assert result.startswith("Payment approved – visa card ending 1111. Authorization code ")
    assert text(browser, "p-amount") == "12.50 EUR" and text(browser, "p-reference") == "INV-1"
    record = call.wait(timeout=60)
    assert record.bridged_to == agent.uuid                    # the caller is back with the agent
    wait(browser, lambda d: text(d, "p-state") == "Approved (finished)", "the session to end")
    assert not by_id(browser, "cancel-button").is_enabled()
    scroll_width, client_width, _ = no_horizontal_scroll(browser)
    assert scroll_width <= 1366 and scroll_width <= client_width
    screenshot(browser, artifacts, "e2e-03-approved")
    assert_no_card_digits(browser, PAN, "4111 1111", "41111111")
    session_id = watched_session(browser)
    final = rig.request("GET", "/sessions/" + session_id).json()
    assert final["result"]["auth_code"] in result
    urls = events_urls(browser)     # the token travels in the events URL only
    assert urls == ["%s/api/v1/sessions/%s/events?access_token=%s"
                    % (rig.url, session_id, TOKENS["alice"])]


def test_keyboard_only_declined_payment_shows_the_reason(rig, browser, artifacts):
    call, agent = rig.call(DECLINED_CALLER)
    open_panel(browser, rig.url)
    keyboard_start(browser, TOKENS["alice"], "7.05", "EUR", "INV-2", call.uuid)
    result = wait_result(browser, "declined")
    declined = rig.request("GET", "/sessions/" + watched_session(browser)).json()["result"]
    reason = declined["decline_reason"]
    assert "funds" in reason and reason in result
    # the declined card, as the agent saw it (the number field may already be the next card's:
    # the flow asks for another one at once, its prompts played by that field's read)
    assert (declined["brand"], declined["last4"]) == ("visa", "9995")
    screenshot(browser, artifacts, "e2e-04-declined")
    call.wait(timeout=60)
    wait(browser, lambda d: text(d, "p-state") == "Declined (finished)", "the session to end")
    # the caller hung up when asked for another card: said as such, not as the final word
    assert wait_result(browser, "declined") == (
        "Payment declined: %s The call left the payment before another card was keyed."
        % (reason if reason.endswith(".") else reason + "."))
    assert_no_card_digits(browser, DECLINED_PAN, "40000000")
    screenshot(browser, artifacts, "e2e-05-declined-ended")


def test_a_full_payment_in_stay_mode_the_agent_listening(rig, browser, artifacts):
    call, agent = rig.call(PAYING_CALLER)
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-3",
               call_uuid=call.uuid)
    sign_in(browser, TOKENS["alice"])
    fill_start_form(browser, mode="stay")
    by_id(browser, "start-button").click()
    assert wait_field(browser, "number", "valid") == "Valid: visa 411111******1111"
    assert text(browser, "p-mode") == "Stay on the call"
    assert wait_field(browser, "security_code", "valid") == "Valid: ***"
    assert wait_result(browser, "approved").startswith("Payment approved – visa card ending 1111.")
    record = call.wait(timeout=60)
    assert record.bridged_to == agent.uuid and agent.bridged_to == call.uuid
    assert "eavesdrop" in [w for _, w, _ in agent.heard]     # it listened, it was not held
    assert agent.tones_heard == [] and agent.dtmf_received == []   # and heard no key
    wait(browser, lambda d: text(d, "p-state") == "Approved (finished)", "the session to end")
    assert by_id(browser, "mode-stay").is_enabled() and not text(browser, "mode-error")
    assert_no_card_digits(browser, PAN, "4111 1111", "41111111")
    screenshot(browser, artifacts, "e2e-06-stay-approved")


def test_the_agent_chooses_the_callers_language_and_the_caller_hears_it(rig, browser, artifacts):
    """The list holds the tenant's catalogs by their own names; a screen-pop URL's
    ``language`` is chosen once the list is known; the caller hears the payment, amount
    included, in that language."""
    call, agent = rig.call(PAYING_CALLER)
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-ES",
               call_uuid=call.uuid, language="es")
    sign_in(browser, TOKENS["alice"])
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#language option")) == 4,
         "the tenant's languages")
    choices = browser.find_elements(By.CSS_SELECTOR, "#language option")
    assert [(c.get_attribute("value"), c.text) for c in choices] == [
        ("", "As the call has it"), ("en", "English (en)"), ("es", "Español (es)"),
        ("ru", "Русский (ru)")]
    assert by_id(browser, "language").get_attribute("value") == "es"
    screenshot(browser, artifacts, "e2e-language-chosen")
    by_id(browser, "start-button").click()
    assert wait_result(browser, "approved").startswith("Payment approved")
    record = call.wait(timeout=60)
    spoken = [h.arg for h in record.heard]
    assert "tts_commandline|es|12 euros con 50 céntimos" in spoken, spoken
    assert not any(arg.startswith("flite|kal|") for arg in spoken), spoken


def test_stay_mode_without_an_agent_leg_shows_the_backends_message(rig, browser, artifacts):
    call, agent = rig.call([{"wait_prompt": 1}], max_duration=20)
    agent.hangup("NORMAL_CLEARING", by="agent")
    open_panel(browser, rig.url, amount="3", currency="JPY", reference="INV-3", call_uuid=call.uuid)
    # the tenant's supervisor: with alice's leg gone the call is no longer alice's (404)
    sign_in(browser, TOKENS["acme"])
    fill_start_form(browser, mode="stay")
    by_id(browser, "start-button").click()
    wait(browser, lambda d: "not available" in text(d, "mode-error"), "the stay-mode message")
    assert "needs the caller bridged to an agent" in text(browser, "mode-error")
    assert not by_id(browser, "mode-stay").is_enabled()
    assert browser.find_element(By.CSS_SELECTOR, 'input[name="mode"]:checked').get_attribute(
        "value") == "transfer"
    assert rig.request("GET", "/sessions").json()["sessions"] == []   # nothing was started
    screenshot(browser, artifacts, "e2e-07-stay-unavailable")


def test_the_agent_cancels_and_sees_the_session_leave_the_active_list(rig, browser, artifacts):
    call, agent = rig.call([{"wait_prompt": 3}, {"silence": 60}])
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-4",
               call_uuid=call.uuid)
    sign_in(browser, TOKENS["alice"])
    by_id(browser, "start-button").click()
    wait(browser, lambda d: field_status(d, "number")[0] == "typing", "card entry to start", 30)
    wait(browser, lambda d: "INV-4" in text(d, "sessions-table"), "the active session listed")
    screenshot(browser, artifacts, "e2e-08-collecting")
    by_id(browser, "cancel-button").click()
    assert wait_result(browser, "cancelled") == "The payment was cancelled."
    call.wait(timeout=30)
    wait(browser, lambda d: text(d, "p-state") == "Cancelled (finished)", "the session to end")
    by_id(browser, "refresh-sessions").click()
    wait(browser, lambda d: by_id(d, "sessions-empty").is_displayed(), "the list to empty")
    assert not rig.sandbox.charges


def test_a_payment_confirmed_by_sms_from_the_panel(tmp_path, chromium, browser, artifacts,
                                                   scripted_https, tls_files):
    """The form's text field reaches the real flow: the caller keys the card, the approved
    payment is texted to the number the agent typed (a real HTTPS provider on loopback), and
    the progress view says so with the number masked."""
    provider = scripted_https([(202, {"id": "msg-1"})])
    rig = texting_rig(tmp_path, provider, tls_files)
    try:
        url = "http://127.0.0.1:%d" % rig.service.http_address[1]
        call, agent = rig.call(PAYING_CALLER + [{"wait_prompt": 20}])
        open_panel(browser, url, amount="12.50", currency="EUR", reference="INV-1",
                   call_uuid=call.uuid)
        sign_in(browser, TOKENS["alice"])
        fill_start_form(browser, sms_to="+34 600 111 222")
        by_id(browser, "start-button").click()
        assert wait_result(browser, "approved").startswith("Payment approved")
        wait(browser, lambda d: text(d, "p-sms") == "Confirmation texted to +********222.",
             "the text's outcome (now %r)" % text(browser, "p-sms"), timeout=30)
        call.wait(timeout=60)
        [request] = provider.requests
        sent = json.loads(request["body"])
        [payment] = rig.service.store.list()
        assert sent["to"] == "+34600111222" and payment["confirmation_code"] in sent["text"]
        screenshot(browser, artifacts, "e2e-sms-confirmed")
        assert_no_card_digits(browser, PAN, "4111 1111", "41111111")
    finally:
        rig.stop()
