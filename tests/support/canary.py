"""The canary card, and the search for any trace of it: a paid call's outputs must hold none.

The search is written apart from every masker it judges (``orchestrator.logs``,
``orchestrator.esl.transcript``), so a gap in one is not a gap in the other. A finding is
``"<what>: <where>"``, ``where`` being the text around it, so a failing test says which header
or line let the digit through.

What counts as a trace:

* any run of seven of the number's digits, wherever it stands (inside a longer run too), and
  the number written in groups of four;
* the expiry or the security code standing alone as a number: as a header or JSON value
  (``variable_hangup_cause: 737``), an assignment (``leak=737``), a command's argument, keys
  printed (``caller presses 737#``). Standing alone means no letter, digit, ``_`` or ``.``
  touches it, so ``4737X``, ``t=3.737``, ``+15551230000`` and the hex of a UUID (a group of
  it all digits, ``52799114-1230-...``, included) are not traces. The only exception is the value of a header that holds nothing but a byte count,
  sequence number or clock the switch writes itself (``Content-Length: 737``);
* the code after a field name (``security code: 737``, ``"cvv": "737"``).

Every text is searched as it is and URL-decoded, the way FreeSWITCH encodes plain event
values (``leak%3D737`` is ``leak=737``).
"""
import re
from typing import List
from urllib.parse import unquote

PAN, EXPIRY, CODE = "4111111111111111", "1230", "737"
SHORT_FIELDS = (("expiry", EXPIRY), ("security code", CODE))
CONTEXT = 60

_WINDOWS = re.compile("|".join(sorted({re.escape(PAN[i:i + 7]) for i in range(len(PAN) - 6)})))
_GROUPED = re.compile(r"4111[ -]?1111[ -]?1111[ -]?1111")
_BESIDE_A_NAME = re.compile(r"(?i)(security|cvv|cvc|cv2|code)[^0-9\n]{0,24}" + CODE + r"(?!\d)")
_STANDING_ALONE = {field: re.compile(r"(?<![\w.])%s(?![\w.])" % value) for field, value in SHORT_FIELDS}
# the switch's own counters and clocks: a value there is never keyed
_COUNTER_VALUE = re.compile(
    r"(?i)\b(Content-Length|Event-Sequence|Event-Calling-Line-Number|Channel-State-Number|"
    r"Caller-Profile-Index|DTMF-Duration|(?:variable_)?session_id|[A-Za-z-]+-Time(?:stamp)?)"
    r"(\"?\s*[:=]\s*\"?)(\d+)")


# a uuid the switch or the service made: a group of its hex can be all digits ("-1230-", one
# uuid in 65,536 for each group), which is no more a value than the rest of it
_UUID = re.compile(r"(?i)(?<![\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])")


def _around(text: str, match: "re.Match[str]") -> str:
    start, end = max(0, match.start() - CONTEXT), match.end() + CONTEXT
    return text[start:end].replace("\n", "\\n")


def _search(text: str) -> List[str]:
    found = [("digits %s" % m.group(0), m) for m in _WINDOWS.finditer(text)]
    found += [("grouped number", m) for m in _GROUPED.finditer(text)]
    found += [("code beside a field name", m) for m in _BESIDE_A_NAME.finditer(text)]
    counters_hidden = _COUNTER_VALUE.sub(lambda m: m.group(1) + m.group(2) + "#" * len(m.group(3)), text)
    counters_hidden = _UUID.sub(lambda m: "u" * len(m.group(0)), counters_hidden)
    for field, pattern in _STANDING_ALONE.items():
        found += [("%s as a value" % field, m) for m in pattern.finditer(counters_hidden)]
    return ["%s: %s" % (what, _around(counters_hidden if what.endswith("as a value") else text, m))
            for what, m in found]


def traces(text: str) -> List[str]:
    """Every way the canary card shows up in ``text``, each once; [] when it does not."""
    findings: List[str] = []
    for form in (text, unquote(text)):
        for finding in _search(form):
            if finding not in findings:
                findings.append(finding)
    return findings
