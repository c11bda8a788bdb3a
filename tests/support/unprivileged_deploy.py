"""The compose deployment's orchestrator, run as its image runs it, on a host with no container engine.

deploy/Dockerfile and deploy/docker-compose.yml say how an orchestrator instance (the compose
file's ``orchestrator-a``; ``orchestrator-b`` differs only in its ports) runs: as the user
payivr, its config root's and mounted read-only under /etc/payivr, on a read-only root
filesystem with a tmpfs on /tmp, writing to two named volumes that Docker fills, ownership
included, from the image's (empty, payivr-owned) folders. This module lays that out from those
two files, not from a copy of what they say, in new mount and network namespaces: the paths are
the container's own (/etc/payivr, /var/lib/payivr, /run/payivr-secure) without touching the
host's, and the shipped config's fixed ports (8084, 8080, 8021) are free. It then runs the
image's command, ``orchestrator run --config /etc/payivr/orchestrator.yaml``, as an
unprivileged user with the compose file's environment, a simulated FreeSWITCH on the node's
address placing the calls (and, with ``--gateway``, the sandbox gateway where the commented
example in deploy/orchestrator.yaml points). What it saw is printed as one JSON document for
tests/deploy/test_unprivileged_run.py, which starts it as root:

    unshare --mount --net --propagation private python -m tests.support.unprivileged_deploy \\
        --scratch DIR --uid 65534 --gid 65534 [--gateway] [--without-store]

``--without-store`` drops the config's ``store`` section: the negative control, showing that
the layout really keeps the service out of its config folder.

The compose file's instances keep their store on PostgreSQL (the ``postgres`` service), which
does not run in this namespace; so the config given here is deploy/orchestrator.yaml with its
``store`` section replaced by an SQLite file on the image's store volume (``SQLITE_STORE``), the
store one instance alone keeps. What this run proves (the user, the read-only root, what is
written where) does not depend on which store the service writes to; the instances sharing
PostgreSQL are run by ``python -m bench.instances``.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402

from orchestrator.config import load_config  # noqa: E402
from orchestrator.payments.sandbox import SandboxGateway  # noqa: E402
from orchestrator.simulator import CallerScript, Switch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
PAYING_CALLER = os.path.join(REPO, "examples", "callers", "pay-approved.yaml")
CARD = "4111111111111111"   # what PAYING_CALLER keys; must appear nowhere
# the sandbox gateway as deploy/orchestrator.yaml's commented example defines it
SANDBOX_EXAMPLE = re.compile(r"^#\s*gateways:\n#(\s+- \{name: sandbox.*\})$", re.M)
# the image's folders: `install -d -o OWNER -g GROUP -m MODE PATH...` in the Dockerfile's RUN
# the store of one instance alone, on the image's store volume (see the module doc)
SQLITE_STORE = "/var/lib/payivr/payments.sqlite"
IMAGE_DIR = re.compile(r"install -d -o (\S+) -g (\S+) -m (\d+) ((?:/\S+\s*)+)")


# -- what the deploy files say ---------------------------------------------------------------

def dockerfile():
    """``[(instruction, argument)]`` of deploy/Dockerfile, continuation lines joined."""
    with open(os.path.join(DEPLOY, "Dockerfile"), encoding="utf-8") as handle:
        text = re.sub(r"\\\n", " ", handle.read())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, argument = line.partition(" ")
            found.append((instruction.upper(), argument.strip()))
    return found


def exec_form(argument):
    """A Dockerfile ``["a", "b"]`` argument as a list (the shell form split like a shell)."""
    return json.loads(argument) if argument.startswith("[") else shlex.split(argument)


def image_facts():
    """The image's user, volumes, command and folders ``{path: (owner, group, mode)}``."""
    facts = {"user": None, "volumes": [], "entrypoint": [], "cmd": [], "dirs": {}}
    for instruction, argument in dockerfile():
        if instruction == "USER":
            facts["user"] = argument
        elif instruction == "VOLUME":
            facts["volumes"] += exec_form(argument)
        elif instruction in ("ENTRYPOINT", "CMD"):
            facts[instruction.lower()] = exec_form(argument)
        elif instruction == "RUN":
            for owner, group, mode, paths in IMAGE_DIR.findall(argument):
                for path in paths.split():
                    facts["dirs"][path] = (owner, group, int(mode, 8))
    return facts


def compose_service(name="orchestrator-a"):
    with open(os.path.join(DEPLOY, "docker-compose.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["services"][name]


def interpolate(value, environ):
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` in one value."""
    def substitute(match):
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        if kind == ":-":
            return rest
        raise SystemExit("compose needs %s: %s" % (name, rest))
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", substitute, str(value))


# -- the layout ------------------------------------------------------------------------------

def run(*command):
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)


class Layout:
    """The container's file system, built in this (new, private) mount namespace.

    A missing mount point is made in an overlay of its nearest existing folder, whose upper
    layer lies in ``scratch`` (a tmpfs), so nothing of the host's file system changes."""

    def __init__(self, scratch, uid, gid):
        self.scratch, self.uid, self.gid = scratch, uid, gid
        self.writable = []        # the mounts the container may write: volumes and tmpfs
        self.host_paths = []      # the host's paths bound back under a tmpfs (see ``tmpfs``)
        self._overlaid = set()
        run("mount", "-t", "tmpfs", "-o", "mode=0700", "payivr-scratch", scratch)

    def ids(self, owner, group):
        return (self.uid if owner != "root" else 0), (self.gid if group != "root" else 0)

    def scratch_path(self, *parts):
        path = os.path.join(self.scratch, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def mount_point(self, path, is_file=False):
        """Make ``path`` exist (root's, 0755), overlaying the nearest folder that does."""
        existing = os.path.dirname(path) if is_file else path
        while not os.path.isdir(existing):
            existing = os.path.dirname(existing)
        if not os.path.exists(path) and existing not in self._overlaid:
            name = "overlay%d" % len(self._overlaid)
            upper, work = self.scratch_path(name, "upper"), self.scratch_path(name, "work")
            os.makedirs(upper)
            os.makedirs(work)
            run("mount", "-t", "overlay", name, "-o",
                "lowerdir=%s,upperdir=%s,workdir=%s" % (existing, upper, work), existing)
            self._overlaid.add(existing)
        os.makedirs(os.path.dirname(path) if is_file else path, mode=0o755, exist_ok=True)
        if is_file and not os.path.exists(path):
            open(path, "w").close()

    def bind(self, source, target, read_only):
        self.mount_point(target, is_file=os.path.isfile(source))
        run("mount", "--bind", source, target)
        if read_only:
            run("mount", "-o", "remount,bind,ro", target)

    def volume(self, target, owner_group_mode):
        """A fresh named volume: Docker fills an empty one from the image's folder, owner and
        mode included (a folder the image lacks comes up root's)."""
        owner, group, mode = owner_group_mode or ("root", "root", 0o755)
        data = self.scratch_path("volumes", target.strip("/").replace("/", "_"))
        os.makedirs(data)
        os.chown(data, *self.ids(owner, group))
        os.chmod(data, mode)
        self.mount_point(target)
        run("mount", "--bind", data, target)
        self.writable.append(target)

    def tmpfs(self, target):
        """A fresh tmpfs at ``target``. What this run itself needs from under it on the host (a
        checkout or its .venv under /tmp, the scratch folder) is bound back at the same paths
        first: a container has its code elsewhere, the host here may not."""
        self.mount_point(target)
        needed = [path for path in (REPO, sys.prefix, self.scratch)
                  if os.path.realpath(path).startswith(os.path.realpath(target).rstrip("/") + "/")]
        host = None
        if needed:
            host = self.scratch_path("host-view") if not self._under(self.scratch, target) \
                else self._outside_view()
            os.makedirs(host, exist_ok=True)
            run("mount", "--rbind", target, host)
        run("mount", "-t", "tmpfs", "-o", "mode=1777", "payivr-tmpfs", target)
        for path in needed:
            real = os.path.realpath(path)
            inside = os.path.join(host, os.path.relpath(real, os.path.realpath(target)))
            os.makedirs(real, exist_ok=True)
            run("mount", "--rbind", inside, real)
            self.host_paths.append(real)
        self.writable.append(target)

    def walk(self, top):
        """os.walk of a writable mount, without the host's paths bound back into it."""
        for directory, names, files in os.walk(top):
            names[:] = [n for n in names if os.path.join(directory, n) not in self.host_paths]
            yield directory, names, files

    @staticmethod
    def _under(path, top):
        return os.path.realpath(path).startswith(os.path.realpath(top).rstrip("/") + "/")

    def _outside_view(self):
        """A folder off every tmpfs target for the host's view, made the way any missing mount
        point is (an overlay of /opt in this private mount namespace: the host's is untouched)."""
        self.mount_point("/opt/payivr-host-view")
        return "/opt/payivr-host-view"

    def read_only_root(self):
        """``read_only: true``: every other mount read-only; what could not be, listed."""
        failed = []
        keep = tuple(self.writable) + (self.scratch,)
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            points = [line.split()[4] for line in handle]
        for point in points:
            if point in keep or point.startswith(("/proc", "/sys", "/dev")):
                continue
            try:
                run("mount", "-o", "remount,bind,ro", point)
            except subprocess.CalledProcessError as exc:
                failed.append("%s: %s" % (point, exc.stderr.strip()))
        return failed

    def owned_by_user(self):
        """Every file the service's user owns on a writable mount, with its mode."""
        found = {}
        for top in self.writable:
            for directory, names, files in self.walk(top):
                for name in [""] + names + files:
                    path = os.path.join(directory, name) if name else directory
                    status = os.lstat(path)
                    if status.st_uid == self.uid:
                        found[path] = oct(status.st_mode & 0o7777)
        return found


def lay_out(layout, facts, service, config_file):
    """The orchestrator container's mounts as the compose file and the image make them."""
    config_path = (facts["entrypoint"] + facts["cmd"])[-1]
    for path in sorted(facts["dirs"]):
        if path not in facts["volumes"]:
            layout.mount_point(path)      # /etc/payivr: a folder of the image, root's
    for entry in service.get("volumes", []):
        parts = entry.split(":")
        source, target = parts[0], parts[1]
        read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        if source.startswith((".", "/")):
            host = config_file if target == config_path else os.path.normpath(os.path.join(DEPLOY, source))
            layout.bind(host, target, read_only)
        else:
            layout.volume(target, facts["dirs"].get(target))
    for target in service.get("tmpfs", []):
        layout.tmpfs(target)
    layout.tmpfs("/dev/shm")            # a container's own, not the host's
    return config_path


def site_config(scratch, with_gateway, without_store):
    """The config the container is given: deploy/orchestrator.yaml with its store on the volume
    (``SQLITE_STORE``), and its commented sandbox gateway written out, or (the control) without
    its store section."""
    with open(os.path.join(DEPLOY, "orchestrator.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    if with_gateway:
        example = SANDBOX_EXAMPLE.search(text)
        if example is None:
            raise SystemExit("deploy/orchestrator.yaml shows no commented sandbox gateway")
        text += "gateways:\n" + example.group(1) + "\n"
        # and the card flow served, as the config's comments say to do with a gateway
        text, served = re.subn(r"^(  names: \[.*)\]", r"\1, card_payment]", text, flags=re.M)
        if served != 1:
            raise SystemExit("deploy/orchestrator.yaml lists no flows.names to add card_payment to")
    text = re.sub(r"^store:\n(?:[ #].*\n)*", "" if without_store else
                  "store:\n  path: %s\n" % SQLITE_STORE, text, flags=re.M)
    path = os.path.join(scratch, "site", "orchestrator.yaml")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o644)
    return path


# -- the run ---------------------------------------------------------------------------------

def start_service(facts, service, uid, gid, environ):
    command = list(facts["entrypoint"] + facts["cmd"])
    command[0] = os.path.join(os.path.dirname(sys.executable), command[0])   # this venv's
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    env.update({name: interpolate(value, environ)
                for name, value in (service.get("environment") or {}).items()})
    return subprocess.Popen(
        ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--no-new-privs",
         "--"] + command, cwd="/", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True), env


def wait_ready(proc, url, timeout=30.0):
    """``(status, body)`` of the first 200 from ``url``, else the last answer (or None)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            answer = requests.get(url, timeout=2)
            last = (answer.status_code, answer.json())
            if answer.status_code == 200:
                return last
        except (requests.RequestException, ValueError):
            pass
        gevent.sleep(0.1)
    return last


def call(switch, address, caller, variables, destination="7000"):
    record = switch.place_call(address, caller=caller, destination=destination,
                               variables=variables).wait(timeout=60)
    return {"transferred_to": record.transferred_to, "hangup_by": record.hangup_by,
            "fallback_reached": record.fallback_reached, "errors": record.errors,
            "pay_result": record.variables.get("pay_result"),
            "heard": [h.arg for h in record.heard][:20]}


def store_rows(path):
    if not os.path.exists(path):
        return None
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return [dict(zip(("status", "card", "amount_minor", "currency"), row)) for row in
                db.execute("SELECT status, card, amount_minor, currency FROM payments")]
    finally:
        db.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scratch", required=True, help="an empty folder for the tmpfs")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--gid", type=int, required=True)
    parser.add_argument("--gateway", action="store_true", help="configure and run the sandbox")
    parser.add_argument("--without-store", action="store_true", help="the negative control")
    args = parser.parse_args(argv)
    run("ip", "link", "set", "lo", "up")              # this network namespace's loopback

    facts, service = image_facts(), compose_service()
    layout = Layout(args.scratch, args.uid, args.gid)
    config_file = site_config(args.scratch, args.gateway, args.without_store)
    config_path = lay_out(layout, facts, service, config_file)
    not_read_only = layout.read_only_root()

    environ = {"FS_ESL_PASSWORD": os.urandom(8).hex(), "POSTGRES_PASSWORD": os.urandom(8).hex()}
    # the config as the service will read it: with the compose file's environment (its
    # ORCHESTRATOR__ overrides included)
    config = load_config(config_path, environ={
        name: interpolate(value, environ) for name, value in service["environment"].items()})
    node = config["nodes"][0]
    switch = Switch(password=environ["FS_ESL_PASSWORD"], host=node["host"], port=node["port"],
                    time_scale=0.1).start()
    sandbox = None
    if args.gateway:
        url = config["gateways"][0]["url"]
        sandbox = SandboxGateway(port=int(url.rsplit(":", 1)[1]), slow_seconds=0.5).start()
    report = {"user": facts["user"], "uid": args.uid, "config_path": config_path,
              "store_path": config["store"]["path"], "writable_mounts": layout.writable,
              "not_read_only": not_read_only}
    proc, env = start_service(facts, service, args.uid, args.gid, environ)
    report["environment"] = sorted(name for name in env if name not in ("PATH", "HOME", "LANG"))
    try:
        http = "http://%s:%d" % (config["http"]["host"], config["http"]["port"])
        report["readyz"] = wait_ready(proc, http + "/readyz")
        if report["readyz"] and report["readyz"][0] == 200:
            address = (config["listen"]["host"], config["listen"]["port"])
            report["welcome_call"] = call(switch, address, CallerScript.from_data(
                [{"wait_prompt": 2}, {"press": "2"}]), {})
            report["card_call"] = call(switch, address, CallerScript.from_yaml(PAYING_CALLER), {
                "pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
                "pay_reference": "INV-DEPLOY-1"})
            proc.send_signal(signal.SIGTERM)
        report["exit_code"] = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        switch.stop()
        if sandbox is not None:
            report["charges"] = len(sandbox.charges)
            sandbox.stop()
    report["log"] = proc.stdout.read()
    report["store_rows"] = store_rows(config["store"]["path"])
    report["owned_by_user"] = layout.owned_by_user()
    searched = report["log"] + json.dumps(report["store_rows"])
    for top in layout.writable:
        for directory, _, files in layout.walk(top):
            for name in files:
                if not stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode):
                    continue     # a FIFO left behind would block a reader
                with open(os.path.join(directory, name), "rb") as handle:
                    searched += handle.read().decode("latin-1")
    report["card_digit_runs_found"] = sum(CARD[i:i + 7] in searched for i in range(len(CARD) - 6))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
