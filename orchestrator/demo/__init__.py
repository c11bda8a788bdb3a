"""``orchestrator demo``: scripted calls through the shipped flows, then agent-assisted payments.

Everything runs in this process on ephemeral loopback ports: the FreeSWITCH simulator, the
service, the sandbox gateway. The demo is also a check: it exits 0 only if every call ends the
way its scenario says it must. ``calls`` holds the scripted IVR calls, ``agent`` the payments
an agent starts through the API while talking to a caller.
"""
import os
import sys

from orchestrator.engine import FlowLibrary
from orchestrator.logs import setup_logging

from .agent import run_agent_demo
from .calls import SCENARIOS, print_agent_table, print_table, run_calls

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = os.path.join(ROOT, "flows")
CALLERS = os.path.join(ROOT, "examples", "callers")
AGENT_DEMO_CALLER = os.path.join(CALLERS, "pay-approved.yaml")


def run_demo(verbose=False, out=sys.stdout, scenarios=SCENARIOS, timeout=60.0):
    setup_logging("INFO" if verbose else "WARNING", "logfmt")
    told = []
    rows = run_calls(FlowLibrary.from_directory(FLOWS), CALLERS, scenarios, timeout, told)
    failures = sum(1 for row in rows if row[-1] != "ok")
    print_table(rows, out)
    print("\nsandbox gateway: one charge per approved call; the unconfirmed one is marked for "
          "reconciliation", file=out)
    print("sandbox CRM, told of each payment by its status callback:", file=out)
    for line in told:
        print(line, file=out)
    agent_rows = []
    for mode, agent_problems in run_agent_demo(FLOWS, AGENT_DEMO_CALLER, out, timeout):
        agent_rows.append(("agent-assisted payment (%s)" % mode,
                           "ok" if not agent_problems else "FAIL: " + "; ".join(agent_problems)))
        failures += bool(agent_problems)
        if agent_problems:
            print("  FAIL (%s): %s" % (mode, "; ".join(agent_problems)), file=out)
    print("", file=out)
    print_agent_table(agent_rows, out)
    rows += agent_rows
    verdict = "all %d calls ended as expected" % len(rows) if not failures else \
        "%d of %d calls did not end as expected" % (failures, len(rows))
    print("\n" + verdict, file=out)
    return 0 if not failures else 1
