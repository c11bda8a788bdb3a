"""The live suite's canary: whatever the test's caller keyed must reach nothing on the switch.

Every live test runs with the eavesdroppers a real site may have (``Watchers`` of
tests/support/live/secure_script.py: a client on ``event plain ALL``, one on ``event json
ALL``, one on the log stream), the switch logging at DEBUG, and, when the suite started the
switch, mod_xml_cdr writing both legs' XML CDRs to a folder. The keys the caller pressed
(``pressed``, called by ``Control.press`` and ``key_in_band``) are the secrets; fields the test
names (``secret``: an expiry, a security code) are searched as whole values.

``findings`` looks, in everything those clients received, in the log file and in the CDR
files, for

* ``runs``: a card number, or any run of seven or more digits that is a piece of what one call
  keyed (a cancelled entry leaves a prefix) -- in the bytes as received and URL-decoded;
* ``split``: a keyed number of twelve digits or more with anything but digits between its
  digits (``4 9 5 2``, ``4-9-5-2``), up to six characters at a time;
* ``one_per_message``: seven keyed digits in a row (of at least four different digits: a
  header's own one-character values repeat) spread one per message over the values of one
  header (``DTMF-Digit: 4`` in seventeen events), or one per per-key log line
  (``RECV DTMF 4:2000``);
* ``secrets``: an expiry or a security code as a whole value (between non-alphanumerics).

A test with two switches (tests/live/test_two_nodes.py) runs a canary on each, the second
sharing the first's ``Secrets``: what a caller keyed on either switch is searched for on both.

Left out, and only this: what the test's own pressing causes on the switch it presses on
(the ``API`` event of ``uuid_send_dtmf <caller> <keys>`` and the log lines of the caller's own
leg, a phone that on a real call is not on this switch). Over SIP the caller is on a second
switch, so nothing is left out. The controls in tests/live/test_canary.py show each search
finding what it looks for on real traffic.
"""
import os
import re
import time
from collections import defaultdict
from urllib.parse import unquote

import gevent

from tests.support.live.secure_script import KEY_OF_LINE, UUID_PREFIX, Watchers

MIN_RUN = 7
SPLIT_MIN = 12
SPLIT_GAP = 6
SPREAD_DISTINCT = 4

def digits_of(keys):
    return "".join(k for k in keys if k.isdigit())


def windows(stream, length=MIN_RUN):
    """Every run of ``length`` consecutive digits of a keyed stream, but runs of one repeated
    digit (the switch writes its own: loopback's caller id is 0000000000)."""
    return {stream[i:i + length] for i in range(len(stream) - length + 1)
            if len(set(stream[i:i + length])) > 1}


def split_pattern(number):
    gap = "[^0-9]{0,%d}" % SPLIT_GAP
    return re.compile(gap.join(re.escape(d) for d in number))


DIGIT_RUN = re.compile(r"[0-9]{%d,}" % MIN_RUN)


def whole_value(value):
    return re.compile(r"(?<![0-9A-Za-z.])%s(?![0-9A-Za-z.])" % re.escape(value))


class Secrets:
    """What the callers of one test keyed, per caller, and the named fields."""

    def __init__(self):
        self.keyed = defaultdict(list)     # caller leg -> key strings in the order pressed
        self.values = set()                # expiry, security code: searched as whole values

    def streams(self):
        return {leg: digits_of("".join(keys)) for leg, keys in self.keyed.items()}

    def numbers(self):
        """Presses that hold a card-length number (the number field's keys)."""
        found = set()
        for keys in self.keyed.values():
            for press in keys:
                found.update(re.findall(r"[0-9]{%d,}" % SPLIT_MIN, press))
        return found

    def search_runs(self):
        runs = set()
        for stream in self.streams().values():
            runs |= windows(stream)
        return runs


class TextSearch:
    """The text searches (runs, split numbers, whole values) for one set of secrets, their
    patterns built once: a test's findings search thousands of messages with the same ones."""

    def __init__(self, secrets):
        self.streams = [s for s in secrets.streams().values() if len(s) >= MIN_RUN]
        self.numbers = sorted(secrets.numbers())
        self.splits = [split_pattern(number) for number in self.numbers]
        self.values = [(value, whole_value(value)) for value in secrets.values]

    def find(self, where, text, found):
        for variant in {text, unquote(text)}:
            for number in self.numbers:
                if number in variant:
                    found["runs"].append((where, number))
            for match in DIGIT_RUN.finditer(variant):
                digits = match.group(0)
                if len(set(digits)) > 1 and any(digits in stream for stream in self.streams):
                    found["runs"].append((where, digits))
            for number, pattern in zip(self.numbers, self.splits):
                for match in pattern.finditer(variant):
                    if match.group(0) != number:
                        found["split"].append((where, match.group(0)[:80]))
            for value, pattern in self.values:
                if pattern.search(variant):
                    found["secrets"].append((where, value))


def find_one_per_message(where, sequences, secrets, found):
    """``sequences``: {header or line kind: keys in order}; seven keyed digits in a row there."""
    # a header's own single-character values repeat (Caller-Profile-Index: 1, 1, 1, 4...): only
    # runs of at least four different digits are told apart from them
    runs = {run for run in secrets.search_runs() if len(set(run)) >= SPREAD_DISTINCT}
    for name, keys in sequences.items():
        digits = digits_of(keys)
        for run in runs:
            if run in digits:
                found["one_per_message"].append((where, name, run))


class Canary:
    """One live test's eavesdroppers and the secrets of its callers."""

    def __init__(self, live, secrets=None):
        """``secrets``: another canary's, for a second switch of the same test (whatever a
        caller keyed on either switch is searched for on both)."""
        self.live = live
        self.watchers = Watchers(live)
        self.secrets = secrets if secrets is not None else Secrets()
        self.callers = set()             # legs on the watched switch that are the test's phone
        self.sent = set()                # "<leg> <keys>" of the test's own uuid_send_dtmf
        self.leak_expected = None
        self.in_band = False
        self.cdr_dir = getattr(live, "cdr_dir", None)
        self.cdr_before = set(self._cdr_files())

    # ---- what the test tells the canary
    def pressed(self, caller, keys, local=True):
        """The test's caller ``caller`` keyed ``keys``; ``local``: from a leg on this switch."""
        self.secrets.keyed[caller].append(keys)
        if local:
            self.callers.add(caller)
            self.sent.add("%s %s" % (caller, keys))

    def secret(self, *values):
        """Card fields too short for runs (an expiry, a security code), searched whole."""
        self.secrets.values.update(v for v in values if v)

    def in_band_line(self, control):
        """The caller's keys come in band (``start_dtmf`` on the payment leg): FreeSWITCH's
        detector logs each key it hears at DEBUG whatever sensitive_dtmf says
        (switch_ivr_async.c, ``DTMF DETECTED``; README, "How card digits are kept out of
        everything"), so such a line is searched with the log at INFO, the shipped level."""
        control.api("fsctl loglevel info")
        self.in_band = True

    def expect_leak(self, why):
        """A negative control: the test lets keys through on purpose and checks the findings
        itself; the teardown check is off for it."""
        self.leak_expected = why

    # ---- searching
    def _cdr_files(self):
        if not self.cdr_dir or not os.path.isdir(self.cdr_dir):
            return []
        return [os.path.join(self.cdr_dir, name) for name in os.listdir(self.cdr_dir)]

    def cdr_files(self):
        return sorted(set(self._cdr_files()) - self.cdr_before)

    def settle(self, timeout=30.0):
        """Wait until every channel these eavesdroppers saw created has been destroyed and the
        logs and CDRs have said so: what comes after a hangup is searched too."""
        created = {m.get("Unique-ID") for m in self.watchers.plain.messages
                   if m.event_name == "CHANNEL_CREATE"}
        deadline = time.monotonic() + timeout
        for leg in created:
            self.watchers.wait_gone(leg, max(1.0, deadline - time.monotonic()))
        gevent.sleep(0.2)       # mod_xml_cdr writes in the session's thread before DESTROY

    def findings(self):
        found = {"runs": [], "split": [], "one_per_message": [], "secrets": []}
        search = TextSearch(self.secrets)
        for where, client in (("plain", self.watchers.plain), ("json", self.watchers.json)):
            per_header = defaultdict(str)
            for message in client.messages:
                if message.event_name == "API" and message.get("API-Command") == "uuid_send_dtmf" \
                        and message.get("API-Command-Argument") in self.sent:
                    continue       # the test pressing keys, not the switch telling
                search.find(where, message.raw, found)
                for name, value in message.event:
                    if len(value) == 1 and value in "0123456789*#ABCD":
                        per_header[name] += value
            find_one_per_message(where, per_header, self.secrets, found)
        lines = [("log stream", m.get("User-Data"), m.body) for m in self.watchers.log.messages
                 if m.content_type == "log/data"]
        for line in self.watchers.log_file_lines():
            prefix = UUID_PREFIX.match(line)
            lines.append(("log file", prefix.group(1) if prefix else None, line))
        per_leg_keys = defaultdict(str)
        for where, leg, line in lines:
            if leg in self.callers:
                continue           # the test's phone sending its keys
            search.find(where, line, found)
            if KEY_OF_LINE.search(line):
                per_leg_keys["%s %s" % (where, leg)] += "".join(KEY_OF_LINE.findall(line))
        find_one_per_message("log", per_leg_keys, self.secrets, found)
        for path in self.cdr_files():
            with open(path, encoding="utf-8", errors="replace") as handle:
                search.find("cdr " + os.path.basename(path), handle.read(), found)
        return {kind: list(dict.fromkeys(entries)) for kind, entries in found.items() if entries}

    def text_found(self, needle):
        """Where ``needle`` (a peer's text, not a key) appears: events, log lines, CDR files."""
        where = []
        for name, client in (("plain", self.watchers.plain), ("json", self.watchers.json)):
            where += [name for m in client.messages if needle in m.raw or needle in unquote(m.raw)]
        where += ["log stream" for m in self.watchers.log.messages if needle in m.body]
        where += ["log file" for line in self.watchers.log_file_lines() if needle in line]
        for path in self.cdr_files():
            with open(path, encoding="utf-8", errors="replace") as handle:
                if needle in handle.read():
                    where.append("cdr " + os.path.basename(path))
        return sorted(set(where))

    def keys_told(self, leg):
        """Any key at all that the switch told of ``leg``: DTMF events, per-key log lines. A
        payment leg has none from its first moment (the dialplan's sensitive_dtmf)."""
        told = {"dtmf": [], "key_lines": []}
        for where, client in (("plain", self.watchers.plain), ("json", self.watchers.json)):
            told["dtmf"] += [(where, m.get("DTMF-Digit")) for m in client.messages
                             if m.event_name == "DTMF" and m.get("Unique-ID") == leg]
        for line in self.watchers.log_file_lines():
            if line.startswith(leg) and KEY_OF_LINE.search(line):
                told["key_lines"].append(line.strip()[-160:])
        for message in self.watchers.log.messages:
            if message.get("User-Data") == leg and KEY_OF_LINE.search(message.body):
                told["key_lines"].append(message.body.strip()[-160:])
        return {kind: entries for kind, entries in told.items() if entries}

    def assert_clean(self):
        self.settle()
        found = self.findings()
        assert found == {}, found

    def close(self):
        self.watchers.close()
