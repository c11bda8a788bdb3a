"""The demo's scripted IVR calls: each shipped flow driven by a caller script, and checked.

All calls go to one service at once, as a switch would send them; each ``Scenario`` says how
its call must end (flow result, where the call went, prompts heard, charges and payment
records, the invoices the CRM reactivated from the payment's status callback), and
``run_calls`` returns one table row per call with what differed, if anything.
"""
import os
import re
import time
from dataclasses import dataclass, field
from typing import Optional

import gevent

import requests

from orchestrator.dry_run import DryRun
from orchestrator.payments.money import format_major
from orchestrator.simulator import CallerScript


@dataclass
class Scenario:
    name: str
    flow: str
    caller: str                       # a file in examples/callers
    result: str                       # the flow outcome expected
    where: str                        # where the call must end, as the simulator words it
    heard: tuple = ()                 # arguments the caller must have heard, in order
    variables: dict = field(default_factory=dict)
    charges: Optional[int] = None     # charges the sandbox must hold for this call (None: unchecked)
    payments: Optional[tuple] = None  # statuses of this call's payment records, in order
    caller_id: Optional[str] = None   # the number the caller calls from (the CRM looks it up)
    texts: Optional[int] = None       # SMS sent for this call's payments (None: unchecked)
    crm_told: Optional[tuple] = None  # invoices the CRM reactivated for this call, once each
    pays_link: bool = False           # the payer opens the texted link and pays the hosted page


PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-1001", "pay_agent": "1000"}
TO_AGENT = "transferred to 1000 XML default"
GOODBYE = "hung up by service (NORMAL_CLEARING)"
# the sandbox CRM's customers (orchestrator/webservices/sandbox_crm.py)
ANA, NOBODY, CRM_OUTAGE = "+34600111222", "+15551230000", "+15550000503"
ANA_INVOICES = ("2026110001", "2026120001", "2026120002")   # all of Ana's, on two lines


SCENARIOS = [
    Scenario("account number read back", "welcome", "account-readback.yaml", "completed",
             "hung up by service (NORMAL_CLEARING)",
             heard=("en NUMBER iterated FEMININE 123456",)),
    Scenario("caller asks for an agent", "welcome", "agent.yaml", "transferred",
             "transferred to 1000 XML default"),
    Scenario("wrong key, retry, agent", "welcome", "wrong-key-then-agent.yaml", "transferred",
             "transferred to 1000 XML default"),
    Scenario("* goes back to the menu", "welcome", "cancel-then-agent.yaml", "transferred",
             "transferred to 1000 XML default"),
    Scenario("silent caller", "welcome", "silent.yaml", "completed",
             "hung up by service (NORMAL_CLEARING)", heard=("voicemail/vm-goodbye.wav",)),
    Scenario("hangs up mid-menu", "welcome", "hangs-up-mid-menu.yaml", "caller-hung-up",
             "hung up by caller (NORMAL_CLEARING)"),
    Scenario("amount due, EUR", "amount_due", "silent.yaml", "completed",
             "hung up by service (NORMAL_CLEARING)", heard=("flite|kal|12 euros and 50 cents",),
             variables={"pay_amount": "1250", "pay_currency": "EUR"}),
    Scenario("card approved", "card_payment", "pay-approved.yaml", "transferred", TO_AGENT,
             heard=("en NUMBER iterated FEMININE 1111",), variables=PAYMENT, charges=1,
             payments=("approved",)),
    Scenario("declined, then another card", "card_payment", "pay-declined-then-approved.yaml",
             "transferred", TO_AGENT, heard=("flite|kal|The card has insufficient funds.",
                                             "en NUMBER iterated FEMININE 4444"),
             variables=PAYMENT, charges=1, payments=("declined", "approved")),
    Scenario("card approved, in Spanish (pay_language)", "card_payment", "pay-approved.yaml",
             "transferred", TO_AGENT, variables=dict(PAYMENT, pay_language="es"), charges=1,
             payments=("approved",), heard=("tts_commandline|es|El importe a pagar es",
                                            "tts_commandline|es|12 euros con 50 céntimos",
                                            "es NUMBER iterated FEMININE 1111")),
    Scenario("declined, then another card, in Russian (pay_language)", "card_payment",
             "pay-declined-then-approved.yaml", "transferred", TO_AGENT,
             variables=dict(PAYMENT, pay_language="ru"), charges=1, payments=("declined", "approved"),
             heard=("tts_commandline|ru|На карте недостаточно средств.",
                    "ru NUMBER iterated MASCULINE 4444")),
    Scenario("Russian chosen in the language menu", "card_payment_menu", "pay-russian-by-menu.yaml",
             "transferred", TO_AGENT, variables=PAYMENT, charges=1, payments=("approved",),
             heard=("flite|kal|For English, press", "tts_commandline|ru|Сумма к оплате:",
                    "tts_commandline|ru|12 евро 50 центов",
                    "tts_commandline|ru|Спасибо. Ваш платёж одобрен.")),
    Scenario("invalid number, retried", "card_payment", "pay-invalid-number-then-valid.yaml",
             "transferred", TO_AGENT, variables=PAYMENT, charges=1, payments=("approved",)),
    Scenario("caller keys nothing", "card_payment", "pay-silent.yaml", "transferred", TO_AGENT,
             variables=PAYMENT, charges=0, payments=()),
    Scenario("* cancels the payment", "card_payment", "pay-cancel.yaml", "transferred", TO_AGENT,
             heard=("flite|kal|The payment has been cancelled.",), variables=PAYMENT, charges=0,
             payments=()),
    Scenario("hangs up mid-entry", "card_payment", "pay-hangup-mid-entry.yaml", "caller-hung-up",
             "hung up by caller (NORMAL_CLEARING)", variables=PAYMENT, charges=0, payments=()),
    Scenario("gateway times out after charging", "card_payment", "pay-gateway-timeout.yaml",
             "transferred", TO_AGENT, variables=PAYMENT, charges=1, payments=("unknown",),
             heard=("flite|kal|We could not confirm your payment. Please hold while we transfer you "
                    "to an agent.",)),
    Scenario("collections: found by number, all paid, code texted", "invoice_collection",
             "collect-all.yaml", "completed", GOODBYE, caller_id=ANA, charges=1,
             payments=("approved",), texts=1, crm_told=ANA_INVOICES,
             heard=("en NUMBER iterated FEMININE 2026110001", "flite|kal|84 euros and 89 cents")),
    Scenario("collections: unknown number, keyed account", "invoice_collection",
             "collect-by-account.yaml", "completed", GOODBYE, caller_id=NOBODY, charges=1,
             payments=("approved",), texts=1, crm_told=("2026120003",), heard=(
                 "flite|kal|Please key your customer account number, followed by the pound key.",
                 "flite|kal|12 euros and 50 cents")),
    Scenario("collections: CRM down", "invoice_collection", "silent.yaml", "transferred",
             TO_AGENT, caller_id=CRM_OUTAGE, variables={"pay_agent": "1000"}, charges=0,
             payments=(), texts=0, crm_told=(),
             heard=("flite|kal|Sorry, we cannot reach your account right now.",)),
    Scenario("collections: declined, then another card", "invoice_collection",
             "collect-declined-then-approved.yaml", "completed", GOODBYE, caller_id=ANA,
             charges=1, payments=("declined", "approved"), texts=1, crm_told=ANA_INVOICES),
    Scenario("collections: a payment link by SMS, paid later", "invoice_collection",
             "collect-by-link.yaml", "completed", GOODBYE, caller_id=ANA, charges=0,
             payments=("approved",), texts=1, crm_told=ANA_INVOICES, pays_link=True,
             heard=("flite|kal|We have sent you a text message with a link to pay. Thank you.",)),
    Scenario("collections, in Spanish", "invoice_collection_es", "collect-all.yaml", "completed",
             GOODBYE, caller_id=ANA, charges=1, payments=("approved",), texts=1,
             crm_told=ANA_INVOICES, heard=("tts_commandline|es|Factura", "tts_commandline|es|84 euros con 89 céntimos")),
]


def _check(scenario, result, run):
    """Return the list of ways a call differed from its scenario (empty: as expected)."""
    problems = []
    call = result.record.uuid
    if scenario.charges is not None:
        keys = {r["idempotency_key"] for r in run.service.store.list() if r["call_uuid"] == call}
        charged = [c for c in run.sandbox.charges if c["idempotency_key"] in keys]
        if len(charged) != scenario.charges:
            problems.append("%d charge(s), expected %d" % (len(charged), scenario.charges))
    if scenario.payments is not None:
        records = [r for r in run.service.store.list() if r["call_uuid"] == call]
        statuses = tuple(r["status"] for r in records)
        if statuses != scenario.payments:
            problems.append("payment records %s, expected %s" % (statuses, scenario.payments))
        if any(r["status"] == "unknown" and not r["needs_reconciliation"] for r in records):
            problems.append("an unknown outcome is not marked for reconciliation")
    if scenario.texts is not None:
        ids = {r["id"] for r in run.service.store.list() if r["call_uuid"] == call}
        sent = [t for t in run.texts if t.reference in ids]
        if len(sent) != scenario.texts:
            problems.append("%d SMS, expected %d" % (len(sent), scenario.texts))
    if scenario.crm_told is not None:
        problems.extend(_crm_problems(scenario, call, run))
    got = result.outcome.result if result.outcome else "none"
    if got != scenario.result:
        problems.append("flow result %s, expected %s" % (got, scenario.result))
    if result.record.outcome != scenario.where:
        problems.append("call ended %r, expected %r" % (result.record.outcome, scenario.where))
    heard = [h.arg for h in result.record.heard]
    for expected in scenario.heard:
        if expected not in heard:
            problems.append("never heard %r" % expected)
    return problems


def _call_payments(run, call):
    return [r["id"] for r in run.service.store.list() if r["call_uuid"] == call]


def _crm_problems(scenario, call, run):
    """The CRM must have reactivated this call's invoices once, through one approved payment."""
    done = [d for payment in _call_payments(run, call)
            for d in run.crm.notices.reactivations_of(payment)]
    invoices = tuple(number for d in done for number in d["invoices"])
    if sorted(invoices) != sorted(scenario.crm_told) or len(done) > 1:
        return ["CRM reactivated %s in %d notice(s), expected %s once"
                % (", ".join(invoices) or "nothing", len(done), ", ".join(scenario.crm_told)
                   or "nothing")]
    return []


def _crm_told(scenarios, calls, run, timeout):
    """Wait (up to ``timeout``) until the CRM has heard of every call's payment it should."""
    expected = sum(1 for scenario in scenarios if scenario.crm_told)
    deadline = time.monotonic() + timeout
    while len(run.crm.notices.reactivations) < expected and time.monotonic() < deadline:
        gevent.sleep(0.1)


def crm_lines(run):
    """What the demo prints of the sandbox CRM: each reactivation, and how often it was told."""
    notices = run.crm.notices
    lines = []
    for done in notices.reactivations:
        lines.append("  CRM told: %s paid %s (%s %s), lines %s reactivated" % (
            done["customer"], ", ".join(done["invoices"]),
            format_major(int(done["amount_minor"]), str(done["currency"])), done["currency"],
            ", ".join(done["lines"])))
    results = [a for a in notices.answered if a["type"] == "payment.result"]
    refused = [a for a in notices.answered if a["status"] == 401]
    lines.append("  %d payment.result callbacks taken (signature checked, %d refused), %d "
                 "reactivations: one per paid collections call" % (
                     len(results), len(refused), len(notices.reactivations)))
    return lines


def run_calls(library, callers_dir, scenarios=SCENARIOS, timeout=60.0, told=None):
    """Place every scenario's call at once on one dry run; one table row per call. ``told``
    (a list) receives what the sandbox CRM was told (``crm_lines``)."""
    rows = []
    with DryRun(library) as run:
        calls = []
        for scenario in scenarios:
            caller = CallerScript.from_yaml(os.path.join(callers_dir, scenario.caller))
            variables = dict(scenario.variables, pay_flow=scenario.flow)
            calls.append((scenario, run.place(caller, variables, caller_id_number=scenario.caller_id)))
        jobs = [gevent.spawn(run.finish, call, timeout) for _, call in calls]
        gevent.joinall(jobs, timeout=timeout + 10)
        gevent.sleep(run.sandbox.hang_seconds)  # let a hung charge answer before it is counted
        paid = _pay_links(scenarios, calls, run)
        _crm_told(scenarios, calls, run, timeout=20.0)
        for (scenario, _), job in zip(calls, jobs):
            rows.append(_row(scenario, job, run))
        if told is not None:
            told.extend(paid + crm_lines(run))
    return rows


PAGE = re.compile(r"http://[0-9.:]+/pay/[a-z]+")


def _pay_links(scenarios, calls, run):
    """The payer of each ``pays_link`` call opens the texted link and pays the sandbox's page,
    then the sandbox sends its webhook again (as a gateway does when unsure it arrived): the
    first approves the payment, the second changes nothing. What happened, in lines."""
    lines = []
    for scenario, call in calls:
        if not scenario.pays_link:
            continue
        ids = set(_call_payments(run, call.uuid))
        for text in [t for t in run.texts if t.reference in ids]:
            for url in PAGE.findall(text.text):
                answers = [requests.post(url, timeout=10).json()["webhook"] for _ in range(2)]
                lines.append("  hosted page paid: webhook answered %d, re-sent: %d (nothing "
                             "changed)" % tuple(answers))
    return lines


def _row(scenario, job, run):
    if not job.successful():
        problems = ["did not finish: %s" % (job.exception or "timeout")]
        got, where = "none", "?"
    else:
        result = job.value
        problems = _check(scenario, result, run)
        got = result.outcome.result if result.outcome else "none"
        where = result.record.outcome
    return (scenario.name, scenario.flow, got, where,
            "ok" if not problems else "FAIL: " + "; ".join(problems))


def print_table(rows, out):
    headers = ("scenario", "flow", "result", "where the call went", "check")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)), file=out)


def print_agent_table(rows, out):
    """The agent-assisted payments, one line each: what was asked, and whether it held."""
    headers = ("agent-assisted payment", "check")
    width = max(len(r[0]) for r in rows + [headers])
    print("%-*s  %s" % (width, headers[0], headers[1]), file=out)
    print("%s  %s" % ("-" * width, "-----"), file=out)
    for name, check in rows:
        print("%-*s  %s" % (width, name, check), file=out)
