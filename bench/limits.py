"""Figures for the bounds of docs/limits.md: what hostile input costs the service now.

    .venv/bin/python bench/limits.py [--floods N] [--flood-mb MB] [--idle N]

* ESL: ``N`` peers in turn connect to the call listener as FreeSWITCH would and each tries to
  send ``MB`` megabytes of header lines; printed: bytes each got into the sockets before it
  saw the close, the process's RSS before and after, and whether a card call placed meanwhile
  was approved.
* HTTP: ``N`` idle connections, then the time ``/healthz`` took to answer and the server's
  open connections; then the same against ``orchestrator run`` in a process of its own under
  ``ulimit -n 1024`` (``--fd-limit``), with a card call placed meanwhile: when the call was
  answered, whether it was paid, and whether it fell back to the dialplan.
* Flow files: time and peak Python allocation to refuse an alias bomb, 100,000 nested
  brackets and a 27 MB file.

A benchmark, not a test: it prints what it measured and asserts nothing.
"""
import argparse
import os
import sys
import tempfile
import time
import tracemalloc

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import requests  # noqa: E402
from gevent import socket  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from orchestrator.dry_run import DryRun  # noqa: E402
from orchestrator.engine import FlowLibrary, validate_file  # noqa: E402
from orchestrator.logs import setup_logging  # noqa: E402
from orchestrator.payments.events import PaymentApproved  # noqa: E402
from orchestrator.simulator import CallerScript  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYMENT = {"pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
           "pay_reference": "BENCH-1"}
CALLER = [{"wait_prompt": 3}, {"press": "4111111111111111#"}, {"wait_prompt": 4},
          {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]


def rss_mb():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def flood(address, megabytes):
    """Bytes pushed into the connection before it was closed under the sender."""
    sent = 0
    sock = socket.create_connection(address, timeout=5)
    try:
        sock.settimeout(10)
        sock.recv(64)                                  # "connect"
        chunk = (b"X-Flood: " + b"a" * 90 + b"\n") * 1000
        while sent < megabytes * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    finally:
        sock.close()
    return sent


def bench_esl_and_http(floods, flood_mb, idle):
    library = FlowLibrary.from_directory(os.path.join(ROOT, "flows"))
    with DryRun(library, http_port=0) as run:
        events = []
        run.service.events.subscribe(lambda call, event: events.append(event))
        before = rss_mb()
        call = run.place(CallerScript.from_data(CALLER), PAYMENT)
        pushed = [flood(run.service.address, flood_mb) for _ in range(floods)]
        run.finish(call, 60)
        gevent.sleep(0.5)
        after = rss_mb()
        approved = any(isinstance(event, PaymentApproved) for event in events)
        closed = run.service.metrics.registry.get_sample_value(
            "payivr_limit_rejections_total", {"limit": "limits.esl.max_header_lines"})
        print("esl: %d peers each tried %d MB of header lines; %d closed at the bound; each got "
              "%.1f-%.1f MB into the sockets before the close"
              % (floods, flood_mb, closed, min(pushed) / 1e6, max(pushed) / 1e6))
        print("esl: RSS %.1f MB before, %.1f MB after; card call meanwhile approved: %s"
              % (before, after, approved))

        host, port = run.service.http_address
        idle_socks = [socket.create_connection((host, port), timeout=5) for _ in range(idle)]
        gevent.sleep(0.5)
        started = time.monotonic()
        status = requests.get("http://%s:%d/healthz" % (host, port), timeout=30).status_code
        took = time.monotonic() - started
        open_now = len(run.service.http._server.connections)
        print("http: %d idle connections (max_connections=%d): /healthz %d in %.3f s, %d open "
              "on the server" % (idle, run.service.http.limits.max_connections, status, took,
                                 open_now))
        for sock in idle_socks:
            sock.close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_descriptor_limit(idle, fd_limit):
    """The issue's case: the service under ``ulimit -n fd_limit`` in its own process, ``idle``
    HTTP connections held open from here, then a card call and /healthz."""
    import resource
    import subprocess

    from orchestrator.payments.sandbox import SandboxGateway
    from orchestrator.simulator import Switch
    from orchestrator.store import PaymentStore

    folder = tempfile.mkdtemp(prefix="bench-fd-")
    port, http_port = free_port(), free_port()
    sandbox = SandboxGateway().start()
    config = os.path.join(folder, "orchestrator.yaml")
    store = os.path.join(folder, "payments.sqlite")
    with open(config, "w") as handle:
        handle.write("listen: {host: 127.0.0.1, port: %d}\nhttp: {host: 127.0.0.1, port: %d}\n"
                     "flows: {directory: %s, names: [welcome, card_payment]}\n"
                     "store: {path: %s}\nlogging: {level: ERROR}\n"
                     "gateways: [{name: sandbox, type: sandbox, url: '%s'}]\n"
                     % (port, http_port, os.path.join(ROOT, "flows"), store, sandbox.url))

    def limited():
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--config", config],
                            cwd=ROOT, preexec_fn=limited, stderr=subprocess.PIPE, text=True)
    switch = Switch(password="bench", time_scale=0.1).start()
    socks = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get("http://127.0.0.1:%d/healthz" % http_port, timeout=1)
                break
            except requests.RequestException:
                gevent.sleep(0.1)
        for _ in range(idle):
            try:
                socks.append(socket.create_connection(("127.0.0.1", http_port), timeout=5))
            except OSError:
                break
        gevent.sleep(1)
        started = time.monotonic()
        call = switch.place_call(("127.0.0.1", port), caller=CallerScript.from_data(CALLER),
                                 variables=PAYMENT)
        record = call.wait(timeout=120)
        took = time.monotonic() - started
        first_prompt = record.heard[0].t if record.heard else float("nan")   # from the call's start
        started = time.monotonic()
        status = requests.get("http://127.0.0.1:%d/healthz" % http_port, timeout=30).status_code
        healthz = time.monotonic() - started
        rows = PaymentStore(store).list()
        print("fd limit %d: %d idle HTTP connections held; card call: first prompt after %.2f s, "
              "done in %.1f s, payment %s, fallback %s; /healthz %d in %.3f s"
              % (fd_limit, len(socks), first_prompt, took,
                 rows[0]["status"] if rows else "none", record.fallback_reached, status, healthz))
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        proc.wait(timeout=40)
        switch.stop()
        sandbox.stop()


def bench_flows():
    folder = tempfile.mkdtemp(prefix="bench-flows-")
    bomb = os.path.join(folder, "bomb.yaml")
    with open(bomb, "w") as handle:
        lines = ['flow: bomb', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for prev, name in zip("abcdefgh", "bcdefghi"):
            lines.append("%s: &%s [%s]" % (name, name, ",".join(["*" + prev] * 9)))
        handle.write("\n".join(lines + ["steps: []"]) + "\n")
    deep = os.path.join(folder, "deep.yaml")
    with open(deep, "w") as handle:
        handle.write("flow: deep\nsteps: " + "[" * 100000 + "]" * 100000 + "\n")
    big = os.path.join(folder, "big.yaml")
    with open(big, "w") as handle:
        handle.write("flow: big\nsteps:\n" + "  - play: ivr/ivr-welcome_to_freeswitch.wav\n" * 620000)
    for path in (bomb, deep, big):
        started = time.monotonic()
        problems = validate_file(path)
        took = time.monotonic() - started
        tracemalloc.start()                  # a second run for memory: tracing slows it down
        validate_file(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print("flow: %s (%d bytes): refused in %.3f s, peak %.1f MB allocated: %s"
              % (os.path.basename(path), os.path.getsize(path), took, peak / 1e6, problems[0]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--floods", type=int, default=20)
    parser.add_argument("--flood-mb", type=int, default=50)
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--fd-limit", type=int, default=1024,
                        help="ulimit -n of the service's own process in the descriptor case")
    args = parser.parse_args()
    setup_logging("ERROR", "logfmt")         # the cut-offs' own lines would flood the figures
    bench_esl_and_http(args.floods, args.flood_mb, args.idle)
    bench_descriptor_limit(args.idle, args.fd_limit)
    bench_flows()


if __name__ == "__main__":
    main()
