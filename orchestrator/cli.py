"""Command line: ``run``, ``check``, ``validate``, ``simulate``, ``demo``, ``reconcile``,
``sandbox`` and ``record-esl``.

Exit codes: 0 success, 1 a check failed (invalid flow or config for ``validate``/``check``,
unexpected demo outcome), 2 bad usage, or a configuration ``run`` refuses to start with. The standard library is patched for gevent before anything else is
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
    from orchestrator.config import ConfigError
    from orchestrator.config_check import check_config
    from orchestrator.engine import FlowError
    from orchestrator.service import Service, serve_forever
    from orchestrator.store import StoreError

    report = check_config(args.config)
    config = report.config
    if config is not None:
        _start_logging(config)
    if report.config_errors:
        print("configuration error:\n%s" % "\n".join(report.config_errors), file=sys.stderr)
        return 2
    if report.flow_errors:   # a flow that would fail on a call: refused before the first one
        print("flow errors:\n%s" % "\n".join(report.flow_errors), file=sys.stderr)
        return 2
    for warning in report.name_warnings:
        logging.getLogger("orchestrator.config").warning("%s", warning)
    try:
        service = Service(config, library=report.library)
    except ConfigError as exc:
        print("configuration error:\n%s" % "\n".join(config.error_lines(exc)), file=sys.stderr)
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
    """Flow files against the built-in defaults (or, with ``--config``, against what that
    config will hold), and the config itself with every flow it names."""
    from orchestrator.engine import validate_paths
    from orchestrator.flow_names import builtin_defaults, describe

    if not args.files and not args.config:
        print("validate: give flow files, --config FILE, or both", file=sys.stderr)
        return 2
    code, lines = 0, []
    if args.config:
        code, lines, available = _validate_config(args.config)
        if args.files and available is not None:
            files_code, file_lines = validate_paths(args.files, available)
            code, lines = max(code, files_code), file_lines + lines
        elif args.files:
            lines = validate_paths(args.files)[1] + lines   # the config failed: shape only
    else:
        available = builtin_defaults()
        code, lines = validate_paths(args.files, available)
        print(describe(available) + "; give --config to check against a service config",
              file=sys.stderr)
    for line in lines:
        print(line)
    return code


def _cmd_check(args):
    code, lines, _ = _validate_config(args.config)
    for line in lines:
        print(line)
    return code


def _validate_config(path):
    """``(code, lines, available)``: what start-up would refuse in a service config (its file,
    the flows of every folder it names, the flow choices, each tenant's grants, every name each
    flow uses), warnings too, and the names the default tenant's flows find, for flow files
    given beside it."""
    from orchestrator.config_check import check_config
    from orchestrator.flow_names import available_for
    from orchestrator.tenancy.loading import plan

    report = check_config(path)
    lines = report.config_errors + report.flow_errors + report.warnings
    available = None
    if report.config is not None and report.library is not None and not report.config_errors:
        tenancy = plan(report.config, report.library, names_checked=True)[0]
        available = available_for(report.config, tenancy, tenancy.plan("default"))
    if not report.ok:
        return 1, lines, available
    return 0, lines + [report.summary()], available


def _cmd_simulate(args):
    from orchestrator.dry_run import simulate

    variables = {}
    for item in args.var or []:
        name, sep, value = item.partition("=")
        if not sep:
            print("--var takes NAME=VALUE, got %r" % item, file=sys.stderr)
            return 2
        variables[name] = value
    if args.caller:            # simulate FLOW --caller SCRIPT [--caller SCRIPT ...]
        if len(args.paths) != 1:
            print("simulate: with --caller, give exactly one flow file", file=sys.stderr)
            return 2
        flow, scripts = args.paths[0], args.caller
    elif args.paths:           # simulate SCRIPT|FOLDER ...: each script names its flow
        flow, scripts = None, args.paths
    else:
        print("simulate: give a flow and --caller SCRIPT, or test scripts / folders of them",
              file=sys.stderr)
        return 2
    if args.output and args.format != "junit":
        print("simulate: --output goes with --format junit", file=sys.stderr)
        return 2
    return simulate(flow, scripts, destination=args.destination, variables=variables,
                    timeout=args.timeout, verbose=args.verbose, log_level=args.log_level,
                    artifacts=args.artifacts, config=args.config, real_sms=args.real_sms,
                    fmt=args.format, output=args.output)


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
        print("configuration error:\n%s" % "\n".join(exc.lines()), file=sys.stderr)
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
        print("%s %s%s" % (done.payment_id, done.status or "still flagged: " + done.note,
                           "" if done.mine else " (settled meanwhile by another reconciliation)"))
    left = store.list(needs_reconciliation=True) + store.list(status="pending")
    print("%d payment(s) still unsettled" % len(left))
    # refunds and voids whose outcome the gateway never confirmed (payments/refunds.py)
    from orchestrator.payments.refunds import Refunds
    refunds = Refunds(store, gateways)
    looked = refunds.reconcile(older_than=args.older_than)
    for settled in looked:
        print("refund %s %s" % (settled.refund_id, settled.status or "still unknown: " + settled.note))
    unknown = refunds.table.unsettled()
    if looked or unknown:     # said only when there are refunds to speak of
        print("%d refund(s) still unknown" % len(unknown))
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

    validate = commands.add_parser(
        "validate", help="check flow files and every name they use (against the built-in "
                         "defaults, or --config's); file:line:column errors")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--config", metavar="CONFIG",
                          help="check the names of the flow files against what this service "
                               "config holds, and the config itself as `check` does")
    validate.set_defaults(func=_cmd_validate)

    check = commands.add_parser("check", help="check a service config and every flow it names; "
                                              "file:line:column errors")
    check.add_argument("--config", required=True, help="service config file (YAML)")
    check.set_defaults(func=_cmd_check)

    simulate = commands.add_parser(
        "simulate", help="dry-run calls against the simulator and check what scripts expect",
        description="simulate FLOW --caller SCRIPT, or simulate SCRIPT|FOLDER... for scripts "
                    "that name their flow (flow: FILE). Exit 1 when a call does not meet its "
                    "script's expect: block.")
    simulate.add_argument("paths", nargs="*", metavar="FLOW|SCRIPT",
                          help="the flow file (with --caller), else test scripts or folders of them")
    simulate.add_argument("--caller", action="append", metavar="SCRIPT",
                          help="caller script (YAML) for the flow given (repeatable)")
    simulate.add_argument("--config", metavar="FILE",
                          help="service config: use its gateways, web services, payment links, "
                               "prompt catalogs, voices and SMS providers (as sinks)")
    simulate.add_argument("--real-sms", action="store_true",
                          help="with --config, send texts through its SMS providers for real")
    simulate.add_argument("--format", choices=("text", "junit", "github"), default="text",
                          help="junit: a JUnit XML report (stdout, or --output); github: also "
                               "::error annotations for GitHub Actions")
    simulate.add_argument("--output", metavar="FILE", help="where --format junit writes")
    simulate.add_argument("--destination", help="the number called (default: the script's, 1000)")
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
