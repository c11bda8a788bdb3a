"""The compose deployment's orchestrator starts as an unprivileged user with its store on a volume.

No container engine runs here, so tests/support/unprivileged_deploy.py lays out the container as
deploy/Dockerfile and deploy/docker-compose.yml make it (config root's and read-only under
/etc/payivr, read-only root file system, named volumes owned as the image's folders are) in new
mount and network namespaces, and runs the image's command on the shipped deploy/orchestrator.yaml
(its store an SQLite file on the image's volume: the compose file's PostgreSQL does not run in
the namespace, see that module) with the orchestrator-a service's mounts and environment, as an
unprivileged user, a simulated FreeSWITCH on the node's address placing the calls. That needs
root (namespaces, switching users); elsewhere these tests are skipped, saying so.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.support.unprivileged_deploy import CARD, compose_service, image_facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UID = GID = 65534          # nobody / nogroup: no home, no shell, like the image's payivr


def missing_tools():
    """Why the run cannot happen here, or None."""
    if os.geteuid() != 0:
        return "needs root: new mount and network namespaces, then a switch to uid %d" % UID
    absent = [tool for tool in ("unshare", "setpriv", "ip", "mount") if shutil.which(tool) is None]
    if absent:
        return "needs %s" % ", ".join(absent)
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "cannot create mount and network namespaces here: %s" % probe.stderr.strip()
    return None


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """``deployment(*options)`` -> the report of one run (cached per options)."""
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    reports = {}

    def run(*options):
        if options not in reports:
            scratch = tmp_path_factory.mktemp("deploy-scratch")
            result = subprocess.run(
                ["unshare", "--mount", "--net", "--propagation", "private", sys.executable, "-m",
                 "tests.support.unprivileged_deploy", "--scratch", str(scratch), "--uid", str(UID),
                 "--gid", str(GID), *options],
                cwd=ROOT, capture_output=True, text=True, timeout=180)
            assert result.returncode == 0, result.stderr
            reports[options] = json.loads(result.stdout)
        return reports[options]
    return run


def volumes():
    return tuple(image_facts()["volumes"])


def test_the_shipped_config_serves_as_an_unprivileged_user_with_its_store_on_the_volume(deployment):
    report = deployment()
    assert report["config_path"] == "/etc/payivr/orchestrator.yaml" and report["not_read_only"] == []
    assert report["environment"] == sorted(compose_service()["environment"])
    status, body = report["readyz"]
    assert status == 200 and body["nodes"]["fs1"]["up"] is True, report["log"]
    assert report["welcome_call"]["transferred_to"] == "1000 XML default"
    assert report["exit_code"] == 0, report["log"]      # SIGTERM: a clean stop
    # the store is where the image's volume is, made there by the service's user
    assert report["store_path"].startswith(volumes()[0] + "/")
    assert report["store_path"] in report["owned_by_user"]
    assert report["store_rows"] == []
    # and it wrote nothing outside its volumes (the rest is read-only, /tmp and /dev/shm empty)
    assert all(path.startswith(volumes()) for path in report["owned_by_user"]), report["owned_by_user"]


def test_without_a_gateway_the_card_flow_is_not_served_and_its_calls_go_to_the_fallback(deployment):
    """The shipped config serves only the flows it has everything for (flows.names): the card
    flow waits for a gateway, so a call asking for it reaches the fallback, asked nothing."""
    report = deployment()
    assert "does not define" not in report["log"]     # nothing served lacks a name it uses
    assert "no flow for destination" in report["log"], report["log"]
    card = report["card_call"]
    assert card["fallback_reached"] and card["heard"] == [], card   # nothing asked of the caller


def test_a_payment_through_the_deployment_is_recorded_on_the_volume(deployment):
    report = deployment("--gateway")       # the config's commented sandbox gateway, written out
    assert report["readyz"][0] == 200, report["log"]
    card = report["card_call"]
    assert card["pay_result"] == "approved" and not card["fallback_reached"], card
    assert report["charges"] == 1
    assert report["store_rows"] == [{"status": "approved", "card": "411111******1111",
                                     "amount_minor": 1250, "currency": "EUR"}]
    assert all(path.startswith(volumes()) for path in report["owned_by_user"])
    assert report["exit_code"] == 0
    # the log, the store and every file on the volumes hold no seven digits of the card in a row
    assert report["card_digit_runs_found"] == 0 and CARD not in report["log"]


def test_control_a_store_beside_the_read_only_config_stops_start_up_saying_why(deployment):
    """The layout really keeps the service's user out of /etc/payivr: the config without its
    store section puts the store there (the default, beside the config), and start-up stops."""
    report = deployment("--without-store")
    assert report["store_path"] == "/etc/payivr/payments.sqlite"
    assert report["exit_code"] == 2 and report["readyz"] is None
    assert ("store.path: cannot open /etc/payivr/payments.sqlite: unable to open database file; "
            "/etc/payivr is not writable by this user (uid %d)" % UID) in report["log"]
    assert report["store_rows"] is None
