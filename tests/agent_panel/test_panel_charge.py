"""The agent-started charge in the panel, in a real headless Chromium against the real service:
the agent chooses "Wait for me", sees "Charge 12.50 EUR" once the card is complete, a double
click sends one request, a decline shows its reason with "Ask for another card", and the second
card is charged from the keyboard."""
import gevent
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.support.agent import TOKENS, Rig
from tests.support.panel_page import (active_id, assert_no_card_digits, by_id, fill_start_form,
                                      focus_is_visible, open_panel, screenshot, sign_in, text,
                                      wait, wait_result)

PAN, EXPIRY, CODE = "4111111111111111", "1230", "737"
DECLINED_PAN = "4000000000009995"      # sandbox: declined, insufficient funds


@pytest.fixture
def rig(tmp_path, chromium):
    rig = Rig(tmp_path, fail_first=0)
    rig.url = "http://127.0.0.1:%d" % rig.service.http_address[1]
    yield rig
    rig.stop()


def key_card(call, pan, nth):
    """Key a whole card once the ``nth`` prompt for each of its fields has started."""
    def heard(words):
        return sum(words in h.arg for h in call.record.heard) >= nth

    def run():
        with gevent.Timeout(60, False):
            for words, digits in (("card number", pan + "#"), ("expiry", EXPIRY),
                                  ("security code", CODE)):
                while not heard(words):
                    gevent.sleep(0.01)
                for digit in digits:
                    call.press(digit)
                    gevent.sleep(0.005)
    return gevent.spawn(run)


DELAY_CHARGE_ANSWERS = """
const fetchNow = window.fetch;
window.fetch = async (...args) => {
  const answer = await fetchNow(...args);
  if (String(args[0]).endsWith("/charge")) {
    await new Promise((done) => setTimeout(done, 1500));
    setTimeout(() => { window.chargeAnswersRead = (window.chargeAnswersRead || 0) + 1; }, 100);
  }
  return answer;
};"""


def charge_requests(browser, at_least):
    """The charge requests the page has sent and had answered, once ``at_least`` have been and
    a moment more has passed for any other to finish. The result reaches the page on its event
    stream before the charge request's own answer does, so counting at once may count one too
    few."""
    def count(driver):
        return driver.execute_script("return performance.getEntriesByType('resource')"
                                     ".map(e => e.name).filter(n => n.endsWith('/charge')).length")
    wait(browser, lambda d: count(d) >= at_least, "%d charge request(s) answered" % at_least)
    gevent.sleep(0.5)
    return count(browser)


def test_the_agent_charges_after_a_decline_and_another_card(rig, browser, artifacts):
    call, agent = rig.call([{"silence": 90}], max_duration=120)
    keyer = key_card(call, DECLINED_PAN, 1)
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-9",
               call_uuid=call.uuid)
    sign_in(browser, TOKENS["alice"])
    fill_start_form(browser)
    browser.find_element(By.CSS_SELECTOR, 'input[name="charge"][value="agent"]').click()
    by_id(browser, "start-button").click()

    button = by_id(browser, "charge-button")
    wait(browser, lambda d: button.is_displayed() and button.is_enabled(), "the Charge button",
         timeout=45)
    assert button.text == "Charge 12.50 EUR"
    assert text(browser, "p-state") == "Card complete: waiting for you to charge"
    keyer.join(timeout=5)
    gevent.sleep(1)
    assert rig.sandbox.charges == [] and button.is_displayed()    # nothing until pressed
    screenshot(browser, artifacts, "charge-01-awaiting")

    # the charge's answer, a snapshot taken before the flow waited for the agent, reaches the
    # page after the stream has said so (as it can on a loaded host): it must not undo that
    browser.execute_script(DELAY_CHARGE_ANSWERS)
    # a double click: the button is disabled by the first, one request leaves
    browser.execute_script("const b = document.getElementById('charge-button'); b.click(); b.click();")
    declined = wait_result(browser, "declined")
    assert charge_requests(browser, 1) == 1
    assert "insufficient funds" in declined
    another = by_id(browser, "another-card-button")
    wait(browser, lambda d: another.is_displayed() and "Ask for another card" in text(d, "result"),
         "the decision after the decline")
    wait(browser, lambda d: d.execute_script("return window.chargeAnswersRead") == 1,
         "the page to read the charge's answer")
    assert another.is_displayed() and "Ask for another card" in text(browser, "result")
    # nothing happens by itself: the state says the flow waits for the agent
    assert text(browser, "p-state") == "Declined: waiting for the agent (another card or cancel)"
    assert by_id(browser, "result").get_attribute("data-next") == "agent_decides"    # not red
    assert not button.is_displayed()
    screenshot(browser, artifacts, "charge-02-declined")

    # the keyboard alone: another card, then Charge
    keyer = key_card(call, PAN, 2)
    browser.execute_script("arguments[0].focus()", another)
    assert active_id(browser) == "another-card-button"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait(browser, lambda d: button.is_displayed() and button.is_enabled(),
         "the Charge button for the second card", timeout=45)
    assert "previous card was declined" in text(browser, "result")
    assert button.text == "Charge 12.50 EUR" and rig.sandbox.charges == []
    browser.execute_script("arguments[0].focus()", button)
    assert focus_is_visible(browser)
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    approved = wait_result(browser, "approved")
    assert "card ending 1111" in approved
    assert charge_requests(browser, 2) == 2
    assert len(rig.sandbox.charges) == 1
    screenshot(browser, artifacts, "charge-03-approved")
    assert_no_card_digits(browser, PAN, DECLINED_PAN)
    rig.request("POST", "/sessions/%s/complete" % by_id(browser, "progress-body")
                .get_attribute("data-session"), body={"to": "agent"})
    call.wait(timeout=30)
