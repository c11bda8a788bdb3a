"""The files in deploy/ agree with each other, with the service and with freeswitch_conf/.

No container engine runs here, so the compose file is checked for consistency only: every
file it mounts or builds from exists, the ports each piece expects line up (two orchestrator
instances, each config loaded as that instance's environment makes it, both sharing the
PostgreSQL service, both scraped), and the dashboard and the rules query only metrics (and
labels) that orchestrator/metrics.py defines.
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
from tests.support.unprivileged_deploy import SANDBOX_EXAMPLE, image_facts, interpolate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
INSTANCES = ("orchestrator-a", "orchestrator-b")
# what an operator exports before `docker compose up` (the secrets the compose file requires)
OPERATOR_ENV = {"FS_ESL_PASSWORD": "fs-secret", "POSTGRES_PASSWORD": "db-secret",
                "FREESWITCH_IMAGE": "fs:1.10", "GRAFANA_ADMIN_PASSWORD": "g"}


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


def test_compose_has_its_services_on_the_host_network(compose):
    assert set(compose) == {"freeswitch", "postgres", "prometheus", "grafana", *INSTANCES}
    assert all(service.get("network_mode") == "host" for service in compose.values())
    assert compose["freeswitch"]["image"].startswith("${FREESWITCH_IMAGE")
    assert compose["postgres"]["image"].startswith("postgres:")     # the official image


def test_every_mounted_file_and_the_build_exist(compose):
    for name, service in compose.items():
        for target, source in mounts(service).items():
            assert os.path.exists(source), "%s mounts missing %s" % (name, source)
    builds = [compose[name]["build"] for name in INSTANCES]
    assert builds[0] == builds[1]
    build = builds[0]
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


def container_environment(service):
    """A compose service's environment as its container gets it (compose's interpolation)."""
    return {name: interpolate(value, OPERATOR_ENV)
            for name, value in (service.get("environment") or {}).items()}


def orchestrator_config(compose, name="orchestrator-a"):
    """The config an instance runs with: its mounted file, under its container's environment
    (its secrets and its ORCHESTRATOR__ overrides), read by the service's own loader."""
    service = compose[name]
    path = host_path(service, service["command"][-1] if "command" in service else
                     "/etc/payivr/orchestrator.yaml")
    return load_config(path, environ=container_environment(service))


@pytest.mark.parametrize("name", INSTANCES)
def test_each_instance_config_loads_and_its_flows_are_mounted(compose, name):
    config = orchestrator_config(compose, name)
    service = compose[name]
    # relative to the config's folder inside the container
    inside = os.path.join("/etc/payivr", read_yaml("orchestrator.yaml")["flows"]["directory"])
    library = FlowLibrary.from_directory(host_path(service, inside))
    assert config["flows"]["default"] in library
    assert image_facts()["cmd"] == ["run", "--config", "/etc/payivr/orchestrator.yaml"]
    assert config["nodes"][0]["password"] == OPERATOR_ENV["FS_ESL_PASSWORD"]


def test_the_two_instances_differ_only_in_their_ports(compose):
    a, b = (orchestrator_config(compose, name) for name in INSTANCES)
    for section in ("listen", "http"):
        assert a[section]["port"] != b[section]["port"], section
        assert dict(a[section], port=0) == dict(b[section], port=0), section
    assert {k: v for k, v in a.data.items() if k not in ("listen", "http")} == \
        {k: v for k, v in b.data.items() if k not in ("listen", "http")}
    assert len({a["listen"]["port"], b["listen"]["port"], a["http"]["port"], b["http"]["port"],
                a["nodes"][0]["port"]}) == 5


def test_both_instances_share_the_postgres_service_as_their_store(compose):
    postgres = compose["postgres"]
    args = postgres["command"]
    settings = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "-c")
    server_env = container_environment(postgres)
    for name in INSTANCES:
        store = orchestrator_config(compose, name)["store"]
        url = urlparse(store["url"])
        assert url.scheme == "postgresql" and url.password is None, store["url"]
        assert (url.hostname, url.port) == (settings["listen_addresses"], int(settings["port"]))
        assert url.username == server_env["POSTGRES_USER"]
        assert url.path == "/" + server_env["POSTGRES_DB"]
        # the password is the server's, from the operator's environment, never in a file
        assert store["password"] == server_env["POSTGRES_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]
        assert compose[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "${POSTGRES_PASSWORD:?" in postgres["environment"]["POSTGRES_PASSWORD"]
    assert named_volumes(postgres) == {"/var/lib/postgresql/data": "postgres-data"}
    assert "postgres-data" in read_yaml("docker-compose.yml")["volumes"]
    assert settings["port"] in " ".join(postgres["healthcheck"]["test"])


def named_volumes(service):
    """``{container path: volume name}`` of a compose service's named volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            found[target] = source
    return found


@pytest.mark.parametrize("name", INSTANCES)
def test_each_instance_runs_unprivileged_on_a_read_only_root_writing_only_its_volumes(compose, name):
    """What tests/deploy/test_unprivileged_run.py runs, checked where it cannot run (not root)."""
    service, image = compose[name], image_facts()
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
    # the image's store folder is a volume of this instance's own (the store is PostgreSQL's;
    # an SQLite store.path would be written there, never beside the config)
    others = [named_volumes(compose[other]) for other in INSTANCES if other != name]
    store_folder = [target for target in volumes if target.startswith("/var/lib/")]
    assert store_folder and all(volumes[store_folder[0]] != o.get(store_folder[0]) for o in others)


def test_secure_entry_is_shared_with_the_switch_container(compose):
    """The FIFOs are made by the orchestrator and written by the switch's script: the same
    volume at the same path in every container, and the script where the switch has it."""
    settings = read_yaml("orchestrator.yaml")["secure_entry"]
    fifo_dir = settings["fifo_dir"]
    for name in INSTANCES:
        assert named_volumes(compose[name])[fifo_dir] == named_volumes(compose["freeswitch"])[fifo_dir]
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
    configs = [orchestrator_config(compose, name) for name in INSTANCES]
    esl = ["%s:%d" % (c["listen"]["host"], c["listen"]["port"]) for c in configs]
    # the dialplan's socket target: vars.xml default and the compose override (instance a);
    # every instance in order for the failover dialplan
    with open(os.path.join(ROOT, "freeswitch_conf", "vars.xml"), encoding="utf-8") as handle:
        assert "orchestrator_esl_address=%s" % esl[0] in handle.read()
    switch_env = compose["freeswitch"]["environment"]
    assert switch_env["ORCHESTRATOR_ESL_ADDRESS"] == esl[0]
    assert [switch_env["ORCHESTRATOR_ESL_ADDRESS"], switch_env["ORCHESTRATOR_ESL_ADDRESS_2"]] == esl
    with open(os.path.join(ROOT, "freeswitch_conf", "vars.xml"), encoding="utf-8") as handle:
        assert 'data="orchestrator_esl_address_2=$ORCHESTRATOR_ESL_ADDRESS_2"' in handle.read()
    # the inbound event socket: every instance connects to the one switch
    params = {p.get("name"): p.get("value") for p in ET.parse(os.path.join(
        ROOT, "freeswitch_conf", "autoload_configs", "event_socket.conf.xml")).iter("param")}
    for config in configs:
        node = config["nodes"][0]
        assert (node["host"], node["port"]) == (params["listen-ip"], int(params["listen-port"]))
    # Prometheus scrapes each instance's http port under its name; each healthcheck asks its own
    scrape = read_yaml("prometheus", "prometheus.yml")["scrape_configs"]
    payivr = [job for job in scrape if job["job_name"] == "payivr"]
    assert len(payivr) == 1
    scraped = {tuple(group["targets"]): group.get("labels", {}).get("instance")
               for group in payivr[0]["static_configs"]}
    for name, config in zip(INSTANCES, configs):
        http = "%s:%d" % (config["http"]["host"], config["http"]["port"])
        assert scraped.get((http,)) == name, scraped
        assert "http://%s/readyz" % http in " ".join(compose[name]["healthcheck"]["test"])
    assert len(scraped) == len(INSTANCES)
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
                   "step latency", "decline reasons", "gateway errors", "esl", "refused",
                   "web service", "sms", "payment link webhooks"):
        assert needed in titles, needed
    datasource = read_yaml("grafana", "provisioning", "datasources", "prometheus.yml")["datasources"][0]
    assert variables["datasource"]["current"]["value"] == datasource["uid"]


def test_dashboard_latency_panels_show_p50_p95_p99_over_rate_of_buckets():
    panels = {p["title"]: p for p in load_dashboard()["panels"]}
    for title in ("Authorization latency", "Step latency", "Web service latency"):
        exprs = [t["expr"] for t in panels[title]["targets"]]
        assert [re.match(r"histogram_quantile\(([0-9.]+), sum by \(le\b.*rate\(\w+_bucket\{", e).group(1)
                for e in exprs] == ["0.5", "0.95", "0.99"]


def test_dashboard_shows_web_services_texts_and_link_webhooks_by_their_labels():
    """The collections metrics each have a panel that splits them by what tells a NOC where to
    look: the web service and its outcome, the SMS provider and its result, the link and the
    status answered."""
    wanted = {"payivr_web_service_requests_total": {"service", "outcome"},
              "payivr_web_service_duration_seconds_bucket": {"service"},
              "payivr_sms_total": {"provider", "result"},
              "payivr_payment_link_webhooks_total": {"link", "code"}}
    defined = defined_series()
    for name, labels in wanted.items():
        assert labels <= defined[name], name
        grouped = [set(re.findall(r"\w+", match)) for panel in load_dashboard()["panels"]
                   for target in panel["targets"] if name in target["expr"]
                   for match in re.findall(r"sum by \(([^)]*)\)", target["expr"])]
        assert any(labels <= group for group in grouped), (name, grouped)


def test_readme_documents_the_compose_file_and_its_ports():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    section = readme.split("## Observability", 1)[1].split("\n## ", 1)[0]
    for needed in ("deploy/docker-compose.yml", "FREESWITCH_IMAGE", "/metrics", "/healthz",
                   "/readyz", "8080", "9090", "3000"):
        assert needed in section, needed


def test_dashboard_shows_each_instance_and_each_node():
    dashboard = load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["instance"]["definition"] == \
        'label_values(payivr_build_info{job="payivr"}, instance)'
    assert variables["node"]["definition"] == \
        'label_values(payivr_esl_connection_up{job="payivr", instance=~"$instance"}, node)'
    assert variables["node"]["includeAll"] and variables["node"]["multi"]
    panels = {p["title"]: p for p in dashboard["panels"]}
    per_instance = {
        "Calls in progress per instance": "payivr_calls_in_progress",
        "Call rate per instance": "payivr_calls_total",
        "ESL connection per instance and node": "payivr_esl_connection_up",
        "Store up per instance": "payivr_store_up",
        "Store errors per instance": "payivr_store_errors_total",
        "Bookkeeping latency p99 per instance": "payivr_store_write_seconds_bucket",
        "Store writes per instance": "payivr_store_write_seconds_count",
    }
    for title, metric in per_instance.items():
        [expr] = [t["expr"] for t in panels[title]["targets"]]
        assert re.search(r"\bby \((le, )?instance\b", expr), (title, expr)
        assert re.search(r"\b%s\{[^}]*instance=~\"\$instance\"" % metric, expr), (title, expr)
    assert re.fullmatch(r"histogram_quantile\(0\.99, sum by \(le, instance\) \(rate\("
                        r"payivr_store_write_seconds_bucket\{.*\}\[\$__rate_interval\]\)\)\)",
                        panels["Bookkeeping latency p99 per instance"]["targets"][0]["expr"])
    assert "by (node)" in panels["Instances connected per node"]["targets"][0]["expr"]
    per_node = {"Calls in progress per node": "payivr_node_calls_in_progress",
                "Call rate per node": "payivr_node_calls_total",
                "Secure entry reachable per node": "payivr_node_secure_entry_reachable"}
    for title, metric in per_node.items():
        [expr] = [t["expr"] for t in panels[title]["targets"]]
        assert re.search(r"\bby \(node\) \((rate\()?%s\{" % metric, expr), (title, expr)
    # every query of a node-labelled metric follows the node variable
    defined = defined_series()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\bpayivr_\w+", target["expr"]):
                if "node" in defined[name]:
                    assert re.search(r"\b%s\{[^}]*node=~\"\$node\"" % name, target["expr"]), \
                        (panel["title"], target["expr"])
