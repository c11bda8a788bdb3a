"""Refused when the config loads: a tenant's flow naming a gateway, a language or a destination
the tenant does not have stops start-up (and ``validate --config``) naming the config key and
the flow's file:line; on a site without blocks nothing new is refused."""
import copy
import os
import subprocess
import sys

import pytest
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.service import Service

from tests.support.tenants import MENU_FLOW, PAY_FLOW, carrier_site, line_of, write_flow

URL = "http://127.0.0.1:9"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config_file(tmp_path, config):
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(dict(config, store={"path": ":memory:"},
                                        http={"enabled": False}, listen={"port": 0})))
    return str(path)


def start_up_errors(path):
    """The lines of the ConfigError that stops the Service being built from the file."""
    with pytest.raises(ConfigError) as raised:
        Service(load_config(path, environ={}))
    return str(raised.value).splitlines()


@pytest.fixture
def site(tmp_path):
    return carrier_site(tmp_path / "site", URL)


def test_the_carrier_site_starts_with_every_tenants_gateway(tmp_path, site):
    config = load_config(config_file(tmp_path, site), environ={})
    service = Service(config)
    assert sorted(service.gateways) == ["acme_gw", "globex_gw", "sandbox"]
    service.stop(grace=0)
    # what `orchestrator reconcile` asks about a payment's gateway, by its (unique) name
    assert sorted(Service._build_gateways(config)) == ["acme_gw", "globex_gw", "sandbox"]


def test_a_tenants_flow_naming_another_tenants_gateway_stops_start_up(tmp_path, site):
    flow = write_flow(site["tenants"]["acme"]["flows"]["directory"],
                      PAY_FLOW.format(name="acme_sneaky", gateway="globex_gw"))
    path = config_file(tmp_path, site)
    assert start_up_errors(path) == [
        "%s: tenants.acme.gateways: flow acme_sneaky (%s:%d): authorize names gateway "
        "'globex_gw', which tenant acme has not been granted (held by globex); tenant acme's "
        "gateways: acme_gw" % (path, flow, line_of(flow, "- authorize:"))]


def test_a_tenants_flow_naming_a_gateway_nobody_defines_stops_start_up(tmp_path, site):
    flow = write_flow(site["tenants"]["globex"]["flows"],
                      PAY_FLOW.format(name="globex_typo", gateway="globex_gww"))
    path = config_file(tmp_path, site)
    assert start_up_errors(path) == [
        "%s: tenants.globex.gateways: flow globex_typo (%s:%d): authorize names gateway "
        "'globex_gww', which the config does not define; tenant globex's gateways: globex_gw"
        % (path, flow, line_of(flow, "- authorize:"))]


def test_the_default_tenants_flow_naming_a_tenants_gateway_stops_start_up(tmp_path, site):
    config = copy.deepcopy(site)
    top = tmp_path / "shared-flows"
    flow = write_flow(str(top), PAY_FLOW.format(name="site_pay", gateway="acme_gw"))
    config["flows"]["directory"] = str(top)
    config["flows"]["by_destination"] = {}
    config["tenants"]["acme"]["flows"]["names"] = []
    path = config_file(tmp_path, config)
    assert start_up_errors(path) == [
        "%s: gateways: flow site_pay (%s:%d): authorize names gateway 'acme_gw', which the "
        "default tenant has not been granted (held by acme); the default tenant's gateways: "
        "sandbox" % (path, flow, line_of(flow, "- authorize:"))]


def test_a_transfer_written_out_of_a_tenants_destinations_stops_start_up(tmp_path, site):
    flow = write_flow(site["tenants"]["acme"]["flows"]["directory"],
                      MENU_FLOW.format(name="acme_out", context="acme").replace(
                          '"${channel.pay_target}"', '"900123456789"'))
    path = config_file(tmp_path, site)
    assert start_up_errors(path) == [
        "%s: tenants.acme.destinations: flow acme_out (%s:%d): transfer to 900123456789 in "
        "context acme is not one of tenant acme's destinations"
        % (path, flow, line_of(flow, "- transfer:"))]
    # a destination known only on the call (acme_menu's ${channel.pay_target}) is checked there


def test_a_granted_flow_is_checked_against_each_tenant_it_is_granted_to(tmp_path, site):
    config = copy.deepcopy(site)
    top = tmp_path / "shared-flows"
    for name in os.listdir(config["flows"]["directory"]):
        if name.endswith(".yaml"):
            (top / name).parent.mkdir(exist_ok=True)
            (top / name).write_text(open(os.path.join(config["flows"]["directory"], name)).read())
    flow = write_flow(str(top), MENU_FLOW.format(name="to_the_desk", context="default").replace(
        '"${channel.pay_target}"', '"1000"'))
    config["flows"]["directory"] = str(top)
    config["tenants"]["acme"]["flows"]["names"].append("to_the_desk")     # acme may reach 1000
    config["tenants"]["globex"]["flows"] = {"directory": config["tenants"]["globex"]["flows"],
                                            "names": ["to_the_desk"]}      # globex may not
    path = config_file(tmp_path, config)
    assert start_up_errors(path) == [
        "%s: tenants.globex.destinations: flow to_the_desk (%s:%d): transfer to 1000 in context "
        "default is not one of tenant globex's destinations"
        % (path, flow, line_of(flow, "- transfer:"))]


def test_a_tenants_languages_must_have_catalogs_and_cover_its_flows(tmp_path, site):
    config = copy.deepcopy(site)
    config["tenants"]["acme"]["prompts"]["languages"] = ["es", "en"]    # acme's folder: en only
    config["tenants"]["globex"]["prompts"] = {"languages": ["es"]}      # shipped es catalog
    path = config_file(tmp_path, config)
    acme_catalog = config["tenants"]["acme"]["prompts"]["catalog_dir"]
    flow = os.path.join(config["tenants"]["globex"]["flows"], "globex_pay.yaml")
    assert start_up_errors(path) == [
        "%s: tenants.acme.prompts.languages: no prompt catalog for language 'es' (%s/es.yaml)"
        % (path, acme_catalog),
        "%s: tenants.globex.prompts.languages: flow globex_pay (%s:%d) speaks en, which is not "
        "one of tenant globex's languages (es)" % (path, flow, line_of(flow, "language:"))]


def test_a_site_without_blocks_still_only_warns_of_a_gateway_nobody_defines(tmp_path, caplog):
    path = config_file(tmp_path, {"tenants": ["acme"], "flows": {"directory": os.path.join(ROOT, "flows")}})
    with caplog.at_level("WARNING", logger="orchestrator.service"):
        Service(load_config(path, environ={})).stop(grace=0)
    warned = [r.getMessage() for r in caplog.records if r.name == "orchestrator.service"]
    assert [line for line in warned if "authorize names gateway" in line] == [
        "flow %s (%s:%d): authorize names gateway 'sandbox', which the config does not "
        "define (gateways: none): its calls go to the dialplan fallback"
        % (name, os.path.join(ROOT, "flows", name + ".yaml"),
           line_of(os.path.join(ROOT, "flows", name + ".yaml"), "- authorize:"))
        for name in ("agent_payment", "card_payment", "card_payment_menu", "invoice_collection",
                     "invoice_collection_es")]
    # the collections flows' CRM too: a warning, as on any site without tenant blocks
    assert len([line for line in warned if "call_service names web service 'crm'" in line]) == 4


def validate(*args):
    return subprocess.run([sys.executable, "-m", "orchestrator", "validate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_validate_with_the_config_says_what_start_up_would_refuse(tmp_path, site):
    path = config_file(tmp_path, site)
    good = validate("--config", path)
    assert good.returncode == 0, good.stdout + good.stderr
    # the collections flows' payment link, which the site lacks, takes their on.error: warned
    assert good.stdout.splitlines() == [
        "%s:%d:13: warning: send_payment_link: payment link 'paylink' is not in %s, which "
        "defines no payment_links; a caller who chooses it takes the on.error branch"
        % (os.path.join(ROOT, "flows", name + ".yaml"),
           line_of(os.path.join(ROOT, "flows", name + ".yaml"), "link: paylink"), path)
        for name in ("agent_payment", "invoice_collection", "invoice_collection_es")] + [
        "%s: OK (10 flows, tenants: default, acme, globex)" % path]
    flow = write_flow(site["tenants"]["acme"]["flows"]["directory"],
                      PAY_FLOW.format(name="acme_sneaky", gateway="globex_gw"))
    bad = validate("--config", path, flow)
    assert bad.returncode == 1
    # the config's line: at acme's gateways key, the second key of its block (yaml sorts them)
    with open(path, encoding="utf-8") as handle:
        text = handle.read().splitlines()
    acme = text.index("  acme:")
    gateways = acme + 1 + [n for n, line in enumerate(text[acme + 1:]) if line == "    gateways:"][0]
    assert bad.stdout.splitlines() == [
        "%s: OK" % flow,    # the file itself is a good flow; the config's tenant may not use it
        "%s:%d:5: tenants.acme.gateways: flow acme_sneaky (%s:%d): authorize names gateway "
        "'globex_gw', which tenant acme has not been granted (held by globex); tenant acme's "
        "gateways: acme_gw" % (path, gateways + 1, flow, line_of(flow, "- authorize:"))]
    assert validate().returncode == 2


def test_the_top_level_languages_bind_the_default_tenants_flows(tmp_path):
    path = config_file(tmp_path, {"flows": {"directory": os.path.join(ROOT, "flows")},
                                  "gateways": [{"name": "sandbox", "type": "sandbox", "url": URL}],
                                  "prompts": {"languages": ["es"]}})
    errors = start_up_errors(path)
    # card_payment_menu: its default, and the en and ru its menu offers
    assert [line.split(" (")[0] for line in errors] == [
        "%s: prompts.languages: flow %s" % (path, name)
        for name in ("agent_payment", "amount_due", "card_payment", "card_payment_menu",
                     "card_payment_menu", "card_payment_menu", "invoice_collection", "welcome")]
    assert [line.rsplit(" speaks ", 1)[1] for line in errors] == [
        "%s, which is not one of the default tenant's languages (es)" % language
        for language in ("en", "en", "en", "en", "en", "ru", "en", "en")]


def test_a_tenants_flow_asking_a_web_service_it_was_not_granted_is_refused(tmp_path, site):
    site = dict(site, web_services=[{"name": "crm", "url": "https://crm.example"}])
    flow = write_flow(site["tenants"]["acme"]["flows"]["directory"], """
flow: acme_lookup
steps:
  - call_service: {service: crm, map: {name: $.name}}
  - hangup: {}
""")
    errors = start_up_errors(config_file(tmp_path, site))
    assert errors == ["%s: tenants.acme.web_services: flow acme_lookup (%s:%d): call_service names "
                      "web service 'crm', which tenant acme has not been granted; tenant acme's "
                      "web services: none" % (os.path.join(str(tmp_path), "orchestrator.yaml"), flow,
                                              line_of(flow, "- call_service:"))]


def test_a_language_a_flow_offers_or_falls_back_to_needs_the_tenants_catalog(tmp_path, site):
    """acme keeps its own catalogs (en only): a menu offering es, or a default of es, would
    leave a caller with no prompts; start-up says so, at the line."""
    folder = site["tenants"]["acme"]["flows"]["directory"]
    flow = write_flow(folder, MENU_FLOW.format(name="acme_menu", context="default").replace(
        "  - answer: {}\n", "  - answer: {}\n  - choose_language: [en, es]\n").replace(
        "flow: acme_menu\n", "flow: acme_menu\nlanguage: ${channel.pay_language}\ndefault_language: es\n"))
    path = config_file(tmp_path, site)
    catalog = site["tenants"]["acme"]["prompts"]["catalog_dir"]
    errors = [line for line in start_up_errors(path) if "acme_menu" in line]
    assert errors == [
        "%s: tenants.acme.prompts.languages: flow acme_menu (%s:%d) speaks es: no prompt catalog "
        "for language 'es' (%s/es.yaml)" % (path, flow, line_of(flow, "language:"), catalog),
        "%s: tenants.acme.prompts.languages: flow acme_menu (%s:%d) speaks es: no prompt catalog "
        "for language 'es' (%s/es.yaml)" % (path, flow, line_of(flow, "- choose_language:"), catalog)]
