"""Driving the panel the way an agent does: by labels and buttons, with waits that time out."""
import os
import re
from urllib.parse import urlencode

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAN_LIKE = re.compile(r"\d(?:[ -]?\d){11,}")   # any run that could be a card number


def open_panel(driver, base_url, **params):
    driver.get(base_url + "/panel/" + ("?" + urlencode(params) if params else ""))
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"),
         "the panel to load")


def wait(driver, condition, what, timeout=15):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        condition, message="timed out waiting for %s" % what)


def by_id(driver, element_id):
    return driver.find_element(By.ID, element_id)


def text(driver, element_id):
    return by_id(driver, element_id).text


def sign_in(driver, token):
    field = by_id(driver, "token")
    field.clear()
    field.send_keys(token)
    by_id(driver, "sign-in-button").click()
    wait(driver, lambda d: by_id(d, "workspace").is_displayed(), "the workspace after sign-in")


def fill_start_form(driver, amount=None, currency=None, reference=None, call_uuid=None, mode=None,
                    method=None, sms_to=None, sms_caller=False):
    for element_id, value in (("amount", amount), ("currency", currency),
                              ("reference", reference), ("call-uuid", call_uuid),
                              ("sms-to", sms_to)):
        if value is not None:
            field = by_id(driver, element_id)
            field.clear()
            field.send_keys(value)
    if mode is not None:
        driver.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="%s"]' % mode).click()
    if method is not None:
        driver.find_element(By.CSS_SELECTOR, 'input[name="method"][value="%s"]' % method).click()
    if sms_caller:
        by_id(driver, "sms-caller").click()


def field_status(driver, name):
    items = driver.find_elements(By.CSS_SELECTOR, '#fields li[data-field="%s"]' % name)
    if not items:
        return None, ""
    return items[0].get_attribute("data-state"), items[0].find_element(
        By.CSS_SELECTOR, ".field-status").text


def wait_field(driver, name, state, timeout=30):
    wait(driver, lambda d: field_status(d, name)[0] == state,
         "field %s to be %s (now %r)" % (name, state, field_status(driver, name)), timeout)
    return field_status(driver, name)[1]


def wait_result(driver, status, timeout=30):
    wait(driver, lambda d: by_id(d, "result").get_attribute("data-status") == status,
         "result %s (now %r)" % (status, by_id(driver, "result").text), timeout)
    return text(driver, "result")


def page_html(driver):
    """Everything the page holds: its live DOM (with input values) and its storage."""
    return driver.execute_script(
        "const values = [...document.querySelectorAll('input')].map(i => i.value).join(' ');"
        "return document.documentElement.outerHTML + ' ' + values + ' '"
        " + JSON.stringify(Object.entries(sessionStorage)) + JSON.stringify(Object.entries(localStorage));")


IDENTIFIERS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|ps_[0-9a-f]+",
                         re.I)


def assert_no_card_digits(driver, *card_values):
    """No card value and no run of twelve or more digits anywhere in the page; call UUIDs and
    session ids (hex, so they may hold digit runs by chance) are taken out first."""
    html = IDENTIFIERS.sub("", page_html(driver))
    for value in card_values:
        assert value not in html
    runs = PAN_LIKE.findall(html)
    assert not runs, runs


def no_horizontal_scroll(driver):
    return driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " window.innerWidth]")


def screenshot(driver, directory, name):
    path = os.path.join(directory, name + ".png")
    driver.save_screenshot(path)
    return path


def active_id(driver):
    return driver.execute_script(
        "const a = document.activeElement; return a ? (a.id || a.name || a.tagName) : null")


def focus_is_visible(driver):
    """The focused element matches :focus-visible and draws an outline an agent can see."""
    return driver.execute_script(
        "const a = document.activeElement, s = getComputedStyle(a);"
        "return a.matches(':focus-visible') && s.outlineStyle !== 'none'"
        " && parseFloat(s.outlineWidth) >= 2")


def keyboard_start(driver, token, amount, currency, reference, call_uuid):
    """Sign in and start a payment with the keyboard alone, checking the focus order."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    def keys(*sequence):
        ActionChains(driver).send_keys(*sequence).perform()

    assert active_id(driver) == "token"
    keys(token, Keys.ENTER)
    wait(driver, lambda d: active_id(d) == "amount", "focus on the amount after sign-in")
    assert focus_is_visible(driver)
    keys(amount, Keys.TAB)
    assert active_id(driver) == "currency"
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    keys(currency, Keys.TAB)
    assert active_id(driver) == "reference"
    keys(reference, Keys.TAB)
    assert active_id(driver) == "call-uuid"
    keys(call_uuid, Keys.TAB)
    assert active_id(driver) == "mode"          # the checked radio: transfer
    assert driver.execute_script("return document.activeElement.value") == "transfer"
    keys(Keys.TAB)
    assert active_id(driver) == "language"      # left as the call has it
    keys(Keys.TAB)
    assert active_id(driver) == "method"        # the checked radio: card
    assert driver.execute_script("return document.activeElement.value") == "card"
    keys(Keys.TAB)
    assert active_id(driver) == "sms-to"        # optional: left empty, no text
    keys(Keys.TAB)
    assert active_id(driver) == "sms-caller"
    keys(Keys.TAB)
    assert active_id(driver) == "charge"        # the checked radio: charge at once
    assert driver.execute_script("return document.activeElement.value") == "auto"
    keys(Keys.TAB)
    assert active_id(driver) == "start-button" and focus_is_visible(driver)
    keys(Keys.ENTER)
    wait(driver, lambda d: active_id(d) == "progress-title", "focus on the progress heading")
