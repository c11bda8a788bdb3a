"""The files in deploy/ agree with each other, with the service and with freeswitch_conf/.

No container engine runs here, so the compose file is checked for consistency only: every
file it mounts or builds from exists, the ports each piece expects line up, and the dashboard
and the rules query only metrics (and labels) that orchestrator/metrics.py defines.
"""
import json
import os
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import pytest
import yaml

from orchestrator.callbacks.outbox import Outbox
from orchestrator.config import load_config
from orchestrator.engine import FlowLibrary
from orchestrator.metrics import Metrics
from orchestrator.store import PaymentStore
from tests.support.unprivileged_deploy import SANDBOX_EXAMPLE, image_facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")


def read_yaml(*parts):
    with open(os.path.join(DEPLOY, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose():
    return read_yaml("docker-compose.yml")["services"]


def mounts(service):
    """``{container path: host path}`` of a compose service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = os.path.normpath(os.path.join(DEPLOY, source))
    return found


def host_path(service, container_path):
    """Where a path inside a container comes from on the host (longest mount prefix)."""
    for target, source in sorted(mounts(service).items(), key=lambda item: -len(item[0])):
        if container_path == target or container_path.startswith(target + "/"):
            return source + container_path[len(target):]
    raise AssertionError("%s is not mounted" % container_path)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def test_compose_has_the_four_services_on_the_host_network(compose):
    assert set(compose) == {"freeswitch", "orchestrator", "prometheus", "grafana"}
    assert all(service.get("network_mode") == "host" for service in compose.values())
    assert compose["freeswitch"]["image"].startswith("${FREESWITCH_IMAGE")


def test_every_mounted_file_and_the_build_exist(compose):
    for name, service in compose.items():
        for target, source in mounts(service).items():
            assert os.path.exists(source), "%s mounts missing %s" % (name, source)
    build = compose["orchestrator"]["build"]
    context = os.path.normpath(os.path.join(DEPLOY, build["context"]))
    assert os.path.isfile(os.path.join(context, build["dockerfile"]))
    with open(os.path.join(context, build["dockerfile"]), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert os.path.exists(os.path.join(context, source)), source


def test_freeswitch_runs_the_shipped_configuration(compose):
    fs = compose["freeswitch"]
    conf = fs["entrypoint"][fs["entrypoint"].index("-conf") + 1]
    assert host_path(fs, conf) == os.path.join(ROOT, "freeswitch_conf")
    assert os.path.isfile(os.path.join(host_path(fs, conf), "freeswitch.xml"))


def orchestrator_config(compose):
    service = compose["orchestrator"]
    path = host_path(service, service["command"][-1] if "command" in service else
                     "/etc/payivr/orchestrator.yaml")
    return load_config(path, environ={"FS_ESL_PASSWORD": "x"})


def test_the_orchestrator_config_loads_and_its_flows_are_mounted(compose):
    config = orchestrator_config(compose)
    service = compose["orchestrator"]
    # relative to the config's folder inside the container
    inside = os.path.join("/etc/payivr", read_yaml("orchestrator.yaml")["flows"]["directory"])
    library = FlowLibrary.from_directory(host_path(service, inside))
    assert config["flows"]["default"] in library
    assert image_facts()["cmd"] == ["run", "--config", "/etc/payivr/orchestrator.yaml"]


def named_volumes(service):
    """``{container path: volume name}`` of a compose service's named volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            found[target] = source
    return found


def test_the_orchestrator_runs_unprivileged_on_a_read_only_root_writing_only_its_volumes(compose):
    """What tests/deploy/test_unprivileged_run.py runs, checked where it cannot run (not root)."""
    service, image = compose["orchestrator"], image_facts()
    assert image["user"] == service["user"] == "payivr"
    assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
    # every bind mount (the config, the flows) is read-only, under the root-owned /etc/payivr
    binds = [v for v in service["volumes"] if v.startswith(".")]
    assert binds and all(v.endswith(":ro") and v.split(":")[1].startswith("/etc/payivr/") for v in binds)
    assert image["dirs"]["/etc/payivr"] == ("root", "root", 0o755)
    # each named volume is a VOLUME of the image, whose folder the image gives to payivr (Docker
    # fills an empty volume from it, owner included), and is declared at the top level
    volumes = named_volumes(service)
    assert sorted(volumes) == sorted(image["volumes"])
    for target in volumes:
        owner, group, mode = image["dirs"][target]
        assert (owner, group) == ("payivr", "payivr") and not mode & 0o007, target
    assert set(volumes.values()) <= set(read_yaml("docker-compose.yml")["volumes"])
    # the store is on one of them
    store = read_yaml("orchestrator.yaml")["store"]["path"]
    assert os.path.isabs(store) and os.path.dirname(store) in volumes


def test_secure_entry_is_shared_with_the_switch_container(compose):
    """The FIFOs are made by the orchestrator and written by the switch's script: the same
    volume at the same path in both containers, and the script where the switch has it."""
    settings = read_yaml("orchestrator.yaml")["secure_entry"]
    fifo_dir = settings["fifo_dir"]
    assert named_volumes(compose["orchestrator"])[fifo_dir] == named_volumes(compose["freeswitch"])[fifo_dir]
    assert host_path(compose["freeswitch"], settings["script"]) == os.path.join(
        ROOT, "freeswitch_conf", "scripts", "pay_secure.lua")


def test_the_deploy_config_shows_the_gateway_its_card_flow_needs():
    """No gateway is configured (the acquirer is the site's); the config says which name the
    shipped card flow wants, and its commented example defines exactly that one."""
    with open(os.path.join(DEPLOY, "orchestrator.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    assert "gateways" not in read_yaml("orchestrator.yaml")
    example = SANDBOX_EXAMPLE.search(text)
    assert example is not None
    gateway = yaml.safe_load(example.group(1))[0]
    wanted = {step["authorize"]["gateway"] for step in load_flow_steps("card_payment.yaml")
              if "authorize" in step}
    assert wanted == {gateway["name"]}


def load_flow_steps(name):
    with open(os.path.join(ROOT, "flows", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["steps"]


def test_ports_line_up(compose):
    config = orchestrator_config(compose)
    esl_address = "%s:%d" % (config["listen"]["host"], config["listen"]["port"])
    # the dialplan's socket target: vars.xml default and the compose override
    with open(os.path.join(ROOT, "freeswitch_conf", "vars.xml"), encoding="utf-8") as handle:
        assert "orchestrator_esl_address=%s" % esl_address in handle.read()
    assert compose["freeswitch"]["environment"]["ORCHESTRATOR_ESL_ADDRESS"] == esl_address
    # the inbound event socket
    params = {p.get("name"): p.get("value") for p in ET.parse(os.path.join(
        ROOT, "freeswitch_conf", "autoload_configs", "event_socket.conf.xml")).iter("param")}
    node = config["nodes"][0]
    assert (node["host"], node["port"]) == (params["listen-ip"], int(params["listen-port"]))
    # Prometheus scrapes the orchestrator's http port; the healthcheck asks the same port
    http = "%s:%d" % (config["http"]["host"], config["http"]["port"])
    scrape = read_yaml("prometheus", "prometheus.yml")["scrape_configs"]
    payivr = [job for job in scrape if job["job_name"] == "payivr"]
    assert payivr and payivr[0]["static_configs"][0]["targets"] == [http]
    assert "http://%s/readyz" % http in " ".join(compose["orchestrator"]["healthcheck"]["test"])
    # Grafana's datasource reaches Prometheus where it listens
    listen = [a for a in compose["prometheus"]["command"] if a.startswith("--web.listen-address=")]
    datasource = read_yaml("grafana", "provisioning", "datasources", "prometheus.yml")["datasources"][0]
    assert urlparse(datasource["url"]).netloc == listen[0].split("=", 1)[1]


def test_prometheus_finds_its_rules_inside_the_container(compose):
    prometheus = compose["prometheus"]
    config_arg = [a for a in prometheus["command"] if a.startswith("--config.file=")][0]
    inside = config_arg.split("=", 1)[1]
    assert host_path(prometheus, inside) == os.path.join(DEPLOY, "prometheus", "prometheus.yml")
    for rule_file in read_yaml("prometheus", "prometheus.yml")["rule_files"]:
        assert os.path.isfile(host_path(prometheus, os.path.join(os.path.dirname(inside), rule_file)))


def test_grafana_provisioning_points_at_the_mounted_dashboards(compose):
    grafana = compose["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning == os.path.join(DEPLOY, "grafana", "provisioning")
    provider = read_yaml("grafana", "provisioning", "dashboards", "payivr.yml")["providers"][0]
    dashboards = host_path(grafana, provider["options"]["path"])
    assert os.listdir(dashboards) == ["payivr-noc.json"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert os.path.isfile(host_path(grafana, home))


# -- the dashboard and the rules speak only of metrics that exist -------------------------------

def load_dashboard():
    with open(os.path.join(DEPLOY, "grafana", "dashboards", "payivr-noc.json"), encoding="utf-8") as handle:
        return json.load(handle)


def defined_series():
    """``{series name: label names}`` for every metric metrics.py defines."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"],
                "info": ["_info"]}
    found = {}
    metrics = Metrics()
    for metric in vars(metrics).values():
        kind = getattr(metric, "_type", None)
        if kind not in suffixes:
            continue
        labels = set(metric._labelnames)
        if kind == "info":
            labels |= set(next(iter(metric.collect())).samples[0].labels)
        for suffix in suffixes[kind]:
            found[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    # the series read from the store at each scrape (the reconciliation backlog)
    watched = Metrics()
    store = PaymentStore()
    watched.watch_reconciliation_backlog(store)
    # and the outbox's pending rows (callbacks/outbox.py)
    watched.watch_outbox(Outbox(store.backend), ["acme"])
    for family in watched.registry.collect():
        for sample in family.samples:
            if sample.name.startswith(("payivr_reconciliation_", "payivr_outbox_pending",
                                       "payivr_outbox_oldest_")):
                found[sample.name] = found.get(sample.name, set()) | set(sample.labels)
    return found


def all_expressions():
    exprs = [t["expr"] for p in load_dashboard()["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in load_dashboard()["templating"]["list"] if v["type"] == "query"]
    with open(os.path.join(DEPLOY, "prometheus", "rules", "payivr-alerts.yml"), encoding="utf-8") as handle:
        exprs += [r["expr"] for g in yaml.safe_load(handle)["groups"] for r in g["rules"]]
    return exprs


def test_queries_use_only_defined_metrics_and_their_labels():
    defined = defined_series()
    assert "payivr_payments_total" in defined and "le" in defined["payivr_authorization_duration_seconds_bucket"]
    for expr in all_expressions():
        for name in re.findall(r"\bpayivr_\w+", expr):
            assert name in defined, "%r uses undefined metric %s" % (expr, name)
        for name, matchers in re.findall(r"\b(payivr_\w+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in defined[name] | {"job", "instance"}, (expr, name, label)


def test_dashboard_is_grafana_10_json_with_its_datasource_by_variable():
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 38 and dashboard["uid"] == "payivr-noc"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for needed in ("calls in progress", "call rate", "success ratio", "authorization latency",
                   "step latency", "decline reasons", "gateway errors", "esl", "refused"):
        assert needed in titles, needed
    datasource = read_yaml("grafana", "provisioning", "datasources", "prometheus.yml")["datasources"][0]
    assert variables["datasource"]["current"]["value"] == datasource["uid"]


def test_dashboard_latency_panels_show_p50_p95_p99_over_rate_of_buckets():
    panels = {p["title"]: p for p in load_dashboard()["panels"]}
    for title in ("Authorization latency", "Step latency"):
        exprs = [t["expr"] for t in panels[title]["targets"]]
        assert [re.match(r"histogram_quantile\(([0-9.]+), sum by \(le\b.*rate\(\w+_bucket\{", e).group(1)
                for e in exprs] == ["0.5", "0.95", "0.99"]


def test_readme_documents_the_compose_file_and_its_ports():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    section = readme.split("## Observability", 1)[1].split("\n## ", 1)[0]
    for needed in ("deploy/docker-compose.yml", "FREESWITCH_IMAGE", "/metrics", "/healthz",
                   "/readyz", "8080", "9090", "3000"):
        assert needed in section, needed
