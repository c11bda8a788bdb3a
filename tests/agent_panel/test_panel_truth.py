"""The panel finds the agent's call and tells the truth at every moment, in a real headless
Chromium against the real service (the agent API rig: simulator, sandbox gateway, loopback).

- who is signed in: "alice · acme" (GET /me), "acme · all agents" for the supervisor;
- the agent's calls are offered (GET /calls): picked, never typed; another agent's never shown;
- after a decline the panel says the caller is asked for another card (card 2 of 2), keeps the
  payment in "My active payments", and the next card's fields start afresh;
- the last card declined says no other card will be asked for.
Screenshots of each state go to test-artifacts/panel/."""
import gevent
import pytest
from selenium.webdriver.common.by import By

from tests.support.agent import CODE, PAN, PAYING_CALLER, TOKENS, Rig
from tests.support.panel_page import (assert_no_card_digits, by_id, field_status, open_panel,
                                    screenshot, sign_in, text, wait, wait_field, wait_result)

DECLINED_PAN = "4000000000009995"      # sandbox: declined, insufficient funds


@pytest.fixture
def rig(tmp_path, chromium):
    rig = Rig(tmp_path, fail_first=0)
    rig.url = "http://127.0.0.1:%d" % rig.service.http_address[1]
    yield rig
    rig.stop()


def call_rows(driver):
    """``[(call uuid, words)]`` as listed now, read in one go (the list is redrawn on refresh)."""
    return [tuple(row) for row in driver.execute_script(
        "return [...document.querySelectorAll('#calls-list li')].map(li =>"
        " [li.dataset.call, li.querySelector('.call-words').innerText])")]


def key_after(call, prompt, digits, nth=1, delay=0.0, timeout=60):
    """The caller presses ``digits`` ``delay`` seconds after the ``nth`` prompt naming
    ``prompt`` has started."""
    def run():
        with gevent.Timeout(timeout, False):
            while sum(prompt in h.arg for h in call.record.heard) < nth:
                gevent.sleep(0.01)
            gevent.sleep(delay)
            for digit in digits:
                call.press(digit)
                gevent.sleep(0.005)
    return gevent.spawn(run)


def keys_card(call, number, nth, delay=0.0):
    key_after(call, "card number", number + "#", nth, delay)
    key_after(call, "expiry", "1230", nth)
    key_after(call, "security code", CODE, nth)


def test_the_agent_picks_their_call_from_the_list_and_the_header_names_them(rig, browser, artifacts):
    call, agent = rig.call(PAYING_CALLER, caller_id_number="+44700123456")
    bobs, _ = rig.call(agent="bob", caller_id_number="+34600999888")
    open_panel(browser, rig.url, amount="12.50", currency="EUR", reference="INV-PICK")
    sign_in(browser, TOKENS["alice"])
    wait(browser, lambda d: text(d, "who") == "alice · acme", "the header to name the agent")
    wait(browser, lambda d: call_rows(d), "alice's calls to be listed")
    [(uuid, words)] = call_rows(browser)            # bob's call is not alice's: not listed
    assert uuid == call.uuid and bobs.uuid not in browser.page_source
    assert words.startswith("Caller +********456 · since ") and words.endswith(" · fs1")
    assert "700123" not in browser.page_source      # the caller's number shown masked only
    assert by_id(browser, "call-uuid").get_attribute("value") == ""
    screenshot(browser, artifacts, "truth-01-my-calls")
    browser.find_element(By.CSS_SELECTOR, "#calls-list li button").click()
    assert by_id(browser, "call-uuid").get_attribute("value") == call.uuid
    assert browser.find_element(By.CSS_SELECTOR, "#calls-list li").get_attribute(
        "data-picked") == "true"
    by_id(browser, "start-button").click()
    assert wait_result(browser, "approved").startswith("Payment approved – visa card ending 1111.")
    # handed to the payment (transfer mode), the caller has left alice's bridge: not offered
    wait(browser, lambda d: call_rows(d) == [], "the call to leave the list")
    screenshot(browser, artifacts, "truth-02-picked-call-approved")
    wait(browser, lambda d: text(d, "p-state") == "Approved (finished)", "the session to end")
    assert_no_card_digits(browser, PAN, "4111 1111", "41111111")


def test_the_supervisor_sees_every_agents_call_and_is_named_as_the_tenant(rig, browser, artifacts):
    alices, _ = rig.call(caller_id_number="+34600111222")
    bobs, _ = rig.call(agent="bob", caller_id_number="+34600999888")
    globex, _ = rig.call(tenant="globex", agent="gina")
    open_panel(browser, rig.url)
    sign_in(browser, TOKENS["acme"])
    wait(browser, lambda d: text(d, "who") == "acme · all agents", "the header to name the tenant")
    wait(browser, lambda d: len(call_rows(d)) == 2, "both of acme's calls")
    rows = dict(call_rows(browser))
    assert set(rows) == {alices.uuid, bobs.uuid} and globex.uuid not in browser.page_source
    assert rows[alices.uuid].endswith(" · with alice") and rows[bobs.uuid].endswith(" · with bob")
    screenshot(browser, artifacts, "truth-03-supervisor-calls")


RECORD_SCREENS = """
window.seen = [];
const note = () => {
  const fields = {};
  for (const li of document.querySelectorAll('#fields li')) {
    fields[li.dataset.field] = [li.dataset.state, li.querySelector('.field-status').textContent];
  }
  const shown = {result: document.getElementById('result').textContent,
    state: document.getElementById('p-state').textContent, fields,
    none_listed: !document.getElementById('sessions-empty').hidden,
    listed: document.getElementById('sessions-table').innerText};
  const last = window.seen[window.seen.length - 1];
  if (!last || JSON.stringify(last) !== JSON.stringify(shown)) window.seen.push(shown);
};
new MutationObserver(note).observe(document.getElementById('workspace'),
  {childList: true, characterData: true, subtree: true, attributes: true});
"""


def test_after_a_decline_the_panel_says_another_card_is_asked_for_and_the_next_starts_afresh(
        rig, browser, artifacts):
    """Every screen the agent is shown is recorded by a MutationObserver in the page (the
    flow's decline announcement is played by the next card's first read, so the declined
    moment lasts only until that read starts); the prompts last 3 s each so the next card's
    screen can also be looked at and photographed."""
    rig.switch.prompt_durations["*another card*"] = 30
    rig.switch.prompt_durations["*enter your card number*"] = 30
    call, agent = rig.call([], max_duration=120)
    keys_card(call, DECLINED_PAN, 1)
    keys_card(call, PAN, 2, delay=1.5)     # the second number keyed halfway through its prompt
    open_panel(browser, rig.url, amount="7.05", currency="EUR", reference="INV-AGAIN")
    sign_in(browser, TOKENS["alice"])
    wait(browser, lambda d: call_rows(d), "the call to be listed")
    browser.find_element(By.CSS_SELECTOR, "#calls-list li button").click()
    by_id(browser, "start-button").click()
    browser.execute_script(RECORD_SCREENS)
    # the second card: while its number is asked for, the first card's expiry and code are gone
    wait(browser, lambda d: "keying card 2 of 2" in text(d, "result"),
         "the next card (now %r)" % text(browser, "result"), timeout=30)
    said = text(browser, "result")
    assert said.startswith("Card 1 declined: ") and "funds" in said
    assert said.endswith("The caller is keying card 2 of 2.")
    assert by_id(browser, "result").get_attribute("data-next") == "another_card"   # not red
    assert field_status(browser, "number")[0] == "typing"
    assert field_status(browser, "expiry") == ("pending", "Waiting")
    assert field_status(browser, "security_code") == ("pending", "Waiting")
    assert "INV-AGAIN" in text(browser, "sessions-table")
    assert not by_id(browser, "sessions-empty").is_displayed()
    screenshot(browser, artifacts, "truth-04-second-card-fresh-fields")
    assert wait_result(browser, "approved").startswith("Payment approved – visa card ending 1111.")
    call.wait(timeout=60)
    wait(browser, lambda d: text(d, "p-state") == "Approved (finished)", "the session to end")
    screenshot(browser, artifacts, "truth-05-second-card-approved")
    seen = browser.execute_script("return window.seen")
    # the moment of the decline: said with what follows, never as a final word
    declined = [s for s in seen if s["result"].startswith("Declined: ")]
    assert declined, [s["result"] for s in seen]
    assert declined[0]["result"].endswith("The caller is asked for another card (card 2 of 2).")
    assert declined[0]["state"] == "Declined, asking for another card"
    assert not any(s["result"].startswith("Payment declined") for s in seen)
    # from the start to the approval the payment was listed as the agent's: never "None"
    until = next(i for i, s in enumerate(seen) if s["result"].startswith("Payment approved"))
    assert not any(s["none_listed"] for s in seen[:until]), [(s["result"][:30], s["state"], s["none_listed"], " ".join(s["listed"].split())) for s in seen[:until]]
    # no screen of the second card showed the first card's expiry or code as valid
    asking = [s for s in seen if s["result"].startswith("Card 1 declined")
              and s["fields"]["number"][0] == "typing"]
    assert asking and all(s["fields"]["expiry"][0] == s["fields"]["security_code"][0] == "pending"
                          for s in asking), asking
    assert_no_card_digits(browser, PAN, DECLINED_PAN, "40000000", "41111111")


def test_the_last_card_declined_says_no_other_card_is_asked_for(rig, browser, artifacts):
    call, agent = rig.call([], max_duration=120)
    keys_card(call, DECLINED_PAN, 1)
    keys_card(call, DECLINED_PAN, 2)
    open_panel(browser, rig.url, amount="7.05", currency="EUR", reference="INV-LAST",
               call_uuid=call.uuid)
    sign_in(browser, TOKENS["alice"])
    by_id(browser, "start-button").click()
    wait(browser, lambda d: "No other card" in text(d, "result"),
         "the last decline (now %r)" % text(browser, "result"), timeout=60)
    said = text(browser, "result")
    assert by_id(browser, "result").get_attribute("data-next") == ""     # the end: shown as one
    assert said.startswith("Payment declined: ") and "funds" in said
    assert said.endswith("No other card will be asked for (card 2 of 2 tried).")
    call.wait(timeout=60)
    wait(browser, lambda d: text(d, "p-state") == "Declined (finished)", "the session to end")
    by_id(browser, "refresh-sessions").click()
    wait(browser, lambda d: by_id(d, "sessions-empty").is_displayed(), "the list to empty")
    screenshot(browser, artifacts, "truth-07-no-more-cards")
    assert_no_card_digits(browser, DECLINED_PAN, "40000000")
