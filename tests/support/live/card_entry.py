"""Keying a card at the shipped card_payment flow's prompts on a real switch, and the runs of a
card's digits that must appear nowhere afterwards."""

from urllib.parse import unquote

PAN_APPROVED, PAN_DECLINED, PAN_DECLINED_2 = "4952471286562387", "4000000000009995", "4000000000000002"
EXPIRY, CODE = "1230", "737"


def card_digits(pan):
    """Runs of seven of the card's digits. A run of one repeated digit is left out: the switch
    has its own (loopback's caller id is 0000000000, timestamps end in zeros); the full number
    and every mixed run are searched."""
    return {pan[i:i + 7] for i in range(len(pan) - 6) if len(set(pan[i:i + 7])) > 1} | {pan}


def is_field_read(message, words=""):
    """A read of a field (or a menu): the secure-entry script's ``read`` (docs/secure-entry.md),
    whose prompt is in ``pay_secure_prompt``, the channel variable set before it ran."""
    headers = message.headers
    return (headers.get("Application") == "lua" and " read " in headers.get("Application-Data", "")
            and words in headers.get("variable_pay_secure_prompt", ""))


def prompt_text(message):
    """What a CHANNEL_EXECUTE plays, whichever way: a dptools prompt's argument, or on a secure
    call the secure-entry script's read prompt or play segments (percent-encoded there)."""
    headers = message.headers
    if headers.get("Application") == "lua":
        return unquote(headers.get("variable_pay_secure_prompt", "") + " "
                       + headers.get("variable_pay_secure_play", ""))
    return headers.get("Application-Data", "")


def wait_prompt(control, a_leg, words, nth=1, timeout=30):
    """The nth field read of the call whose prompt has ``words``."""
    reads = []

    def nth_read(message):
        if message.event_name == "CHANNEL_EXECUTE" and is_field_read(message, words):
            reads.append(message)
        return len(reads) >= nth
    return control.wait_call(a_leg, nth_read, timeout, "prompt %d %r" % (nth, words))


def key_card(control, a_leg, pan, expiry="1230", code="737", nth=1):
    wait_prompt(control, a_leg, "card number", nth)
    control.press(a_leg, pan + "#")
    wait_prompt(control, a_leg, "expiry date", nth)
    control.press(a_leg, expiry)
    wait_prompt(control, a_leg, "security code", nth)
    control.press(a_leg, code)
