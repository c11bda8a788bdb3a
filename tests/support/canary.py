"""The canary card, and the search for any trace of it: a paid call's outputs must hold none."""
import re

PAN, CODE = "4111111111111111", "737"


def traces(text):
    """Every way the canary could show up in ``text``."""
    found = []
    runs = {PAN[i:i + 7] for i in range(len(PAN) - 6)}
    for run in runs:
        if run in text:
            found.append("digits %s" % run)
    grouped = re.search(r"4111[ -]?1111[ -]?1111[ -]?1111", text)
    if grouped:
        found.append("grouped number")
    beside = re.search(r"(?i)(security|cvv|cvc|cv2|code)[^0-9\n]{0,24}" + CODE + r"(?!\d)", text)
    if beside:
        found.append("code beside a field name: %r" % beside.group(0))
    return found
