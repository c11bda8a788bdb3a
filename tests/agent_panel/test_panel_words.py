"""The panel's words for who is signed in, a call to pick and a decline, from its own module
in a real headless Chromium (served by the fake API of tests/support/fake_agent_api.py): a
caller number not in the service's masked shape is never shown, a decline says what follows."""
import pytest

from tests.support.fake_agent_api import FakeServer
from tests.support.panel_page import open_panel


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def words(driver, function, *args):
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('./panel.js').then(m => done(m[arguments[0]](...arguments[1])))"
        ".catch(e => done('crash: ' + e));", function, list(args))


def test_who_is_signed_in(fake, browser):
    open_panel(browser, fake.url)
    assert words(browser, "whoWords", {"tenant": "acme", "agent": "alice"}) == "alice · acme"
    assert words(browser, "whoWords", {"tenant": "acme", "agent": None}) == "acme · all agents"
    assert words(browser, "whoWords", None) == "Signed in"


def test_a_call_shows_only_a_masked_caller_number(fake, browser):
    open_panel(browser, fake.url)
    call = {"call_uuid": "c", "caller": "+********222", "since": "2026-12-01T20:41:07+00:00",
            "node": "fs1", "agent": "bob", "session": None}
    shown = words(browser, "describeCall", call, True)
    assert shown.startswith("Caller +********222 · since ") and shown.endswith(" · fs1 · with bob")
    # a backend slip: a whole number (or anything else) is not shown
    for slip in ("+34600111222", "4111111111111111", "<b>x</b>"):
        assert words(browser, "describeCall", dict(call, caller=slip), False).startswith(
            "Caller unknown number · ")
    assert words(browser, "describeCall", dict(call, session="ps_1"), False).endswith(
        " · payment in progress")


@pytest.mark.parametrize("state, after, said", [
    ("declined", {"next": "another_card", "card": 1, "cards_allowed": 3},
     "Declined: The card has insufficient funds. The caller is asked for another card (card 2 of 3)."),
    ("collecting", {"next": "another_card", "card": 2, "cards_allowed": 3},
     "Card 2 declined: The card has insufficient funds. The caller is keying card 3 of 3."),
    ("authorizing", {"next": "another_card", "card": 1, "cards_allowed": 2},
     "Card 1 declined: The card has insufficient funds. Card 2 of 2 is being authorized."),
    ("ended", {"next": "another_card", "card": 1, "cards_allowed": 2},
     "Payment declined: The card has insufficient funds. The call left the payment before "
     "another card was keyed."),
    ("declined", {"next": "no_more_cards", "card": 2, "cards_allowed": 2},
     "Payment declined: The card has insufficient funds. No other card will be asked for "
     "(card 2 of 2 tried)."),
    ("declined", {"next": "unknown", "card": 1, "cards_allowed": None},
     "Declined: The card has insufficient funds. The payment flow goes on; it may ask the "
     "caller for another card."),
    ("ended", None, "Payment declined: The card has insufficient funds."),
    # "charge": "agent": the flow waits for the agent's decision, and asks for nothing itself
    ("declined", {"next": "agent_decides", "card": 1, "cards_allowed": None},
     "Declined: The card has insufficient funds. Waiting for you: ask the caller for another "
     "card, or cancel."),
    ("collecting", {"next": "agent_decides", "card": 1, "cards_allowed": None},
     "Card 1 declined: The card has insufficient funds. You asked for another card; the caller "
     "is keying card 2."),
    ("ended", {"next": "agent_decides", "card": 2, "cards_allowed": None},
     "Payment declined: The card has insufficient funds. No other card was asked for."),
])
def test_a_decline_says_what_follows(fake, browser, state, after, said):
    open_panel(browser, fake.url)
    session = {"state": state, "after_decline": after,
               "result": {"status": "declined", "decline_reason": "insufficient_funds"}}
    assert words(browser, "declinedText", session) == said


@pytest.mark.parametrize("next_, said", [
    ("another_card", "Declined, asking for another card"),
    ("agent_decides", "Declined: waiting for the agent (another card or cancel)"),
    ("no_more_cards", "Declined"),
])
def test_a_declined_state_says_who_moves_next(fake, browser, next_, said):
    open_panel(browser, fake.url)
    session = {"state": "declined", "after_decline": {"next": next_, "card": 1, "cards_allowed": None}}
    assert words(browser, "stateWords", session) == said
