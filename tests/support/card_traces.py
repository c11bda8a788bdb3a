"""A card to look for, what a crash reporter capturing locals would send, and the search.

The card's number is used by no other test, and its digits (4444444444444448) make windows
that the noise of a traceback (object addresses, timings, ports) does not produce, so a hit
means the card, not a coincidence. Object addresses and source line numbers are removed
before the search: they are never card data, and a line number could be the security code.
"""
import re
import traceback

from orchestrator.payments.card import CardData
from tests.support.cards import TODAY

NUMBER, EXPIRY, CODE = "4444444444444448", "0837", "373"
# the expiry as connectors send it: MMYY, YYMM, MM/YY and the year alone
EXPIRY_FORMS = (EXPIRY, EXPIRY[2:] + EXPIRY[:2], EXPIRY[:2] + "/" + EXPIRY[2:], "20" + EXPIRY[2:])
_NOISE = re.compile(r"0x[0-9a-fA-F]+|\bline \d+")


def traced_card():
    """A filled-in CardData holding NUMBER, EXPIRY and CODE."""
    card = CardData(today=TODAY)
    card.set_number(NUMBER)
    card.set_expiry(EXPIRY)
    card.set_security_code(CODE)
    return card


def _standalone(token):
    return re.compile(r"(?<![\d.])%s(?![\d.])" % re.escape(token))


def traces(text):
    """What of the card ``text`` holds: the number, any 7-digit window of it, the expiry in
    any of its forms, the security code as a number of its own."""
    text = _NOISE.sub(" ", text)
    found = ["number"] if NUMBER in text else []
    found += ["digits %s" % NUMBER[i:i + 7] for i in range(len(NUMBER) - 6)
              if NUMBER[i:i + 7] in text]
    found += ["expiry %s" % form for form in EXPIRY_FORMS if _standalone(form).search(text)]
    if _standalone(CODE).search(text):
        found.append("security code")
    return sorted(set(found))


def _safe_repr(value):
    try:
        return repr(value)
    except Exception as error:   # a half-built object: what a reporter would write instead
        return "<repr failed: %s>" % type(error).__name__


def _attributes(value):
    """The attributes of an object, slots included: a reporter that serialises objects looks
    inside them (a RevealedCard's repr is masked, its slots are not)."""
    names = [name for klass in type(value).__mro__ for name in getattr(klass, "__slots__", ())
             if isinstance(name, str)]
    found = {name: getattr(value, name, None) for name in names if not name.startswith("__")}
    found.update(getattr(value, "__dict__", None) or {})
    return found


def crash_report(error):
    """The text a crash reporter capturing locals would send for ``error``: the traceback
    formatted with ``capture_locals=True``, then every local of every frame of its traceback,
    repr'd whole (no length cap) with its attributes, and the same for every exception chained
    to it or held in one of those locals, suppressed context included."""
    parts = ["".join(traceback.TracebackException(
        type(error), error, error.__traceback__, capture_locals=True).format())]
    pending, seen = [error], set()
    while pending:
        exception = pending.pop()
        if exception is None or id(exception) in seen:
            continue
        seen.add(id(exception))
        parts.append("%s: %s" % (type(exception).__name__, _safe_repr(exception.args)))
        tb = exception.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in list(frame.f_locals.items()):
                parts.append("%s %s = %s" % (frame.f_code.co_name, name, _safe_repr(value)))
                try:
                    attributes = _attributes(value)
                except Exception:   # an object that will not be looked into
                    attributes = {}
                parts += ["  .%s = %s" % (key, _safe_repr(item)) for key, item in attributes.items()]
                if isinstance(value, BaseException):
                    pending.append(value)
            tb = tb.tb_next
        pending += [exception.__context__, exception.__cause__]
    return "\n".join(parts)
