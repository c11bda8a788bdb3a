"""Command line: ``run``, ``validate``, ``simulate``, ``demo``, ``reconcile``, ``sandbox`` and
``record-esl``.

Exit codes: 0 success, 1 a check failed (invalid flow, unexpected demo outcome), 2 bad usage
or configuration. The standard library is patched for gevent before anything else is
imported, so HTTP calls to a gateway yield to the calls in progress instead of blocking them.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from orchestrator import __version__  # noqa: E402


def _start_logging(config):
    """Logging as the config says, then what the config itself has to say (keys that moved)."""
    from orchestrator.logs import setup_logging

    setup_logging(config["logging"]["level"], config["logging"]["format"])
    for notice in config.deprecations:
        logging.getLogger("orchestrator.config").warning(notice)


def _cmd_run(args):
    from orchestrator.config import ConfigError, load_config
    from orchestrator.engine import FlowError
    from orchestrator.service import Service, serve_forever
    from orchestrator.store import StoreError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("configuration error:\n%s" % exc, file=sys.stderr)
        return 2
    _start_logging(config)
    try:
        service = Service(config)
    except ConfigError as exc:
        print("configuration error:\n%s" % exc, file=sys.stderr)
        return 2
    except FlowError as exc:
        print("flow errors:\n%s" % exc, file=sys.stderr)
        return 2
    except StoreError as exc:
        print("store error:\n%s" % exc, file=sys.stderr)
        return 2
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    # new flows and catalogs for new calls; the calls in progress keep theirs (flow_reload.py)
    gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(service.reload, "SIGHUP"))
    serve_forever(service, stop)
    return 0


def _cmd_validate(args):
    from orchestrator.engine import validate_paths

    if not args.files and not args.config:
        print("validate: give flow files, --config FILE, or both", file=sys.stderr)
        return 2
    code, lines = validate_paths(args.files) if args.files else (0, [])
    if args.config:
        config_code, config_lines = _validate_config(args.config)
        code, lines = max(code, config_code), lines + config_lines
    for line in lines:
        print(line)
    return code


def _validate_config(path):
    """What start-up would refuse in a service config: its flows (every folder it names), the
    flow choices and each tenant's flows against its grants; warnings too, as start-up logs
    them."""
    from orchestrator.config import ConfigError, load_config
    from orchestrator.engine import FlowError
    from orchestrator.tenancy.loading import load_library, plan

    try:
        config = load_config(path)
        library = load_library(config)
    except ConfigError as exc:
        return 1, str(exc).splitlines()
    except FlowError as exc:
        return 1, [str(problem) for problem in exc.problems]
    _, errors, warnings = plan(config, library)
    lines = ["%s: %s" % (config.source, line) for line in errors]
    lines += ["%s: warning: %s" % (config.source, line) for line in warnings]
    lines += list(config.deprecations)          # already named by file
    if errors:
        return 1, lines
    return 0, lines + ["%s: OK (%d flows, tenants: %s)" % (
        config.source, len(library), ", ".join(["default"] + sorted(config["tenants"])))]


def _cmd_simulate(args):
    from orchestrator.dry_run import simulate

    variables = {}
    for item in args.var or []:
        name, sep, value = item.partition("=")
        if not sep:
            print("--var takes NAME=VALUE, got %r" % item, file=sys.stderr)
            return 2
        variables[name] = value
    return simulate(args.flow, args.caller, destination=args.destination, variables=variables,
                    timeout=args.timeout, verbose=args.verbose, log_level=args.log_level,
                    artifacts=args.artifacts)


def _cmd_demo(args):
    from orchestrator.demo import run_demo

    return run_demo(verbose=args.verbose)


def _cmd_record_esl(args):
    from orchestrator.esl.recorder import parse_address, run_recorder

    try:
        listen, forward = parse_address(args.listen), parse_address(args.forward)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    return run_recorder(listen, forward, args.out, stop, mode=args.mode,
                        masked_variables=args.mask_var or ())


def _cmd_reconcile(args):
    import os

    from orchestrator.config import ConfigError, load_config
    from orchestrator.reconcile import expire_links, reconcile
    from orchestrator.service import Service, open_configured_store, store_settings
    from orchestrator.store import PaymentStore, StoreError

    try:
        config = load_config(args.config)
        gateways = Service._build_gateways(config)
    except ConfigError as exc:
        print("configuration error:\n%s" % exc, file=sys.stderr)
        return 2
    _start_logging(config)
    path = config["store"]["path"]
    if path != ":memory:" and not os.path.isabs(path):
        path = os.path.join(config.base_dir, path)
    try:
        store = (open_configured_store(config) if store_settings(config)["url"]
                 else PaymentStore(path))
    except (StoreError, ConfigError) as exc:
        print("store error:\n%s" % exc, file=sys.stderr)
        return 2
    # what reconciliation settles is a status callback too: stored here, sent by the service
    from orchestrator.callbacks.wiring import hook_outcomes
    hook_outcomes(store, config["agent_api"]["webhooks"])
    for done in expire_links(store) + reconcile(store, gateways, older_than=args.older_than,
                                                cancel_after=args.cancel_after):
        print("%s %s" % (done.payment_id, done.status or "still flagged: " + done.note))
    left = store.list(needs_reconciliation=True) + store.list(status="pending")
    print("%d payment(s) still unsettled" % len(left))
    return 0


def _cmd_sandbox(args):
    from orchestrator.logs import setup_logging
    from orchestrator.payments.sandbox import SandboxGateway

    setup_logging("INFO", "logfmt")
    sandbox = SandboxGateway(host=args.host, port=args.port, secret=args.secret).start()
    print("sandbox gateway on %s (test cards: orchestrator/payments/README.md)" % sandbox.url,
          flush=True)
    stop = gevent.event.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    sandbox.stop()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="orchestrator", description="Pay-by-phone IVR flows in YAML on FreeSWITCH.")
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve calls from FreeSWITCH")
    run.add_argument("--config", required=True, help="service config file (YAML)")
    run.set_defaults(func=_cmd_run)

    validate = commands.add_parser("validate", help="check flow files; file:line:column errors")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--config", metavar="CONFIG",
                          help="also check a service config: its flow folders and each "
                               "tenant's flows against its gateways, languages and destinations")
    validate.set_defaults(func=_cmd_validate)

    simulate = commands.add_parser("simulate", help="dry-run one flow against the simulator")
    simulate.add_argument("flow", help="flow file (YAML)")
    simulate.add_argument("--caller", required=True, help="caller script (YAML)")
    simulate.add_argument("--destination", default="1000")
    simulate.add_argument("--var", action="append", metavar="NAME=VALUE",
                          help="channel variable for the simulated call (repeatable)")
    simulate.add_argument("--timeout", type=float, default=120.0)
    simulate.add_argument("--verbose", action="store_true", help="also print the service's log")
    simulate.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING"],
                          help="the service's log level (default WARNING, INFO with --verbose)")
    simulate.add_argument("--artifacts", metavar="DIR",
                          help="write the payment store, wire transcript, events and /metrics here")
    simulate.set_defaults(func=_cmd_simulate)

    reconcile = commands.add_parser("reconcile", help="settle payments whose outcome is unknown")
    reconcile.add_argument("--config", required=True, help="service config file (YAML)")
    reconcile.add_argument("--older-than", type=float, default=60.0, metavar="SECONDS",
                           help="only payments unsettled for this long (default 60)")
    reconcile.add_argument("--cancel-after", type=float, default=900.0, metavar="SECONDS",
                           help="ask the gateway to cancel the key of a payment it cannot speak "
                                "for once the payment is this old (default 900)")
    reconcile.set_defaults(func=_cmd_reconcile)

    sandbox = commands.add_parser("sandbox", help="run the sandbox payment gateway (test cards)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8099)
    sandbox.add_argument("--secret", help="check HMAC signatures with this shared secret")
    sandbox.set_defaults(func=_cmd_sandbox)

    demo = commands.add_parser("demo", help="scripted calls through the shipped flows")
    demo.add_argument("--verbose", action="store_true", help="also print the service's log")
    demo.set_defaults(func=_cmd_demo)

    record = commands.add_parser(
        "record-esl", help="relay an Event Socket connection and write a masked transcript")
    record.add_argument("--listen", required=True, metavar="HOST:PORT", help="where to accept")
    record.add_argument("--forward", required=True, metavar="HOST:PORT", help="where to relay to")
    record.add_argument("--out", required=True, metavar="FILE", help="transcript (JSON Lines)")
    record.add_argument("--mode", choices=("auto", "inbound", "outbound"), default="auto",
                        help="which end dials the proxy: a client (inbound) or the switch "
                             "(outbound); auto tells them apart by the first message")
    record.add_argument("--mask-var", action="append", metavar="NAME",
                        help="also mask every digit of this channel variable, one a site's own reads "
                             "write keys into (repeatable)")
    record.set_defaults(func=_cmd_record_esl)
    return parser


def main(argv=None):
    from orchestrator.hardening import harden_process
    from orchestrator.hub_errors import route_hub_errors

    harden_process()   # before any command can hold a card: no core dump of this process
    route_hub_errors()  # gevent's tracebacks through logging and its redaction, never raw
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
