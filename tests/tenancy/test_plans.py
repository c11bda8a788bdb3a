"""What each tenant's calls may use, resolved from a config and its flow folders."""
import copy

import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.tenancy.loading import load_library, plan

from tests.support.tenants import carrier_site

URL = "http://127.0.0.1:9"


def planned(tmp_path, config):
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(dict(config, store={"path": ":memory:"})))
    loaded = load_config(str(path), environ={})
    library = load_library(loaded)
    tenancy, errors, warnings = plan(loaded, library)
    return tenancy, errors, warnings


@pytest.fixture
def site(tmp_path):
    return carrier_site(tmp_path / "site", URL)


def test_each_tenant_has_its_folder_its_grants_and_nothing_else(tmp_path, site):
    tenancy, errors, warnings = planned(tmp_path, site)
    assert errors == [] and warnings == []
    acme, globex, default = (tenancy.plan(name) for name in ("acme", "globex", "default"))
    assert acme.flows == {"acme_pay", "acme_menu", "welcome"}
    assert globex.flows == {"globex_pay"}
    # the top-level library is the default tenant's; welcome is shared with acme, granted it
    assert default.flows == {"agent_payment", "card_payment", "card_payment_menu", "amount_due", "welcome", "invoice_collection",
                             "invoice_collection_es"}
    assert (acme.gateways, globex.gateways, default.gateways) == (
        {"acme_gw"}, {"globex_gw"}, {"sandbox"})
    assert tenancy.withheld_gateways("acme") == {"globex_gw", "sandbox"}
    assert tenancy.holders("welcome") == ("acme", "default")
    assert tenancy.holders("acme_gw") == ("acme",) and tenancy.holders("sandbox") == ("default",)
    assert not tenancy.may_run("acme", "globex_pay") and tenancy.may_run("globex", "globex_pay")


def test_a_tenant_nobody_configured_has_nothing(tmp_path, site):
    tenancy, _, _ = planned(tmp_path, site)
    nobody = tenancy.plan("unknown")
    assert nobody.flows == frozenset() and nobody.gateways == frozenset()
    assert not nobody.may_transfer("1000", "default")


def test_prompts_and_destinations_are_the_tenants_own(tmp_path, site):
    tenancy, _, _ = planned(tmp_path, site)
    acme, default = tenancy.plan("acme"), tenancy.plan("default")
    assert acme.prompts.catalog_dir.endswith("acme-catalog") and default.prompts.catalog_dir is None
    assert acme.may_transfer("2001", "acme") and not acme.may_transfer("2001", "default")
    assert not tenancy.plan("globex").may_transfer("1000", "default")   # globex lists none
    assert default.destinations is None and default.may_transfer("anything", "anywhere")


def test_a_top_level_gateway_granted_to_tenants_is_shared_with_them(tmp_path, site):
    site["tenants"]["acme"]["gateways"].append("sandbox")
    site["tenants"]["globex"]["gateways"].append("sandbox")
    tenancy, errors, _ = planned(tmp_path, site)
    assert errors == []      # the default tenant's card_payment still charges its sandbox
    assert tenancy.plan("acme").gateways == {"acme_gw", "sandbox"}
    assert tenancy.plan("default").gateways == {"sandbox"}
    assert tenancy.holders("sandbox") == ("acme", "default", "globex")
    assert tenancy.withheld_gateways("acme") == {"globex_gw"}


def test_a_site_without_blocks_shares_everything_with_every_tenant(tmp_path, site):
    shared = {key: value for key, value in site.items() if key != "tenants"}
    shared["flows"] = dict(shared["flows"], by_destination={})
    shared["tenants"] = ["acme", "globex"]
    tenancy, errors, _ = planned(tmp_path, shared)
    assert errors == [] and tenancy.shared
    for tenant in ("acme", "globex", "default", "unknown"):
        chosen = tenancy.plan(tenant)
        assert chosen.name == tenant
        assert chosen.flows == {"agent_payment", "card_payment", "card_payment_menu", "amount_due", "welcome", "invoice_collection",
                             "invoice_collection_es"}
        assert chosen.gateways == {"sandbox"} and chosen.destinations is None
    assert tenancy.withheld_gateways("acme") == frozenset()


def test_grants_and_choices_naming_what_is_not_the_tenants_are_refused_by_key(tmp_path, site):
    config = copy.deepcopy(site)
    acme = config["tenants"]["acme"]["flows"]
    acme["names"] = ["welcome", "globex_pay", "nope"]
    acme["default"] = "card_payment"
    acme["by_destination"] = {"7200": "acme_pay", "7201": "globex_pay"}
    _, errors, _ = planned(tmp_path, config)
    flows = site["flows"]["directory"]
    assert errors == [
        "tenants.acme.flows.names[1]: flow globex_pay is tenant globex's own (%s/globex_pay.yaml); "
        "only flows of the top-level flows.directory can be granted"
        % site["tenants"]["globex"]["flows"],
        "tenants.acme.flows.names[2]: no flow named nope in the top-level flows.directory %s "
        "(known: agent_payment, amount_due, card_payment, card_payment_menu, invoice_collection, "
        "invoice_collection_es, welcome)" % flows,
        "tenants.acme.flows.default: flow card_payment is not one of tenant acme's flows "
        "(acme_menu, acme_pay, welcome)",
        "tenants.acme.flows.by_destination.7201: flow globex_pay is not one of tenant acme's "
        "flows (acme_menu, acme_pay, welcome)"]


def test_a_tenant_asks_its_own_web_services_and_those_granted_it(tmp_path, site):
    config = copy.deepcopy(site)
    config["web_services"] = [{"name": "crm", "url": "https://crm.example"}]
    config["tenants"]["acme"]["web_services"] = ["crm", {"name": "acme_crm", "url": "https://acme.example"}]
    config["tenants"]["globex"]["web_services"] = [{"name": "globex_crm", "url": "https://globex.example"}]
    tenancy, errors, _ = planned(tmp_path, config)
    assert errors == []
    acme, globex, default = (tenancy.plan(name) for name in ("acme", "globex", "default"))
    assert (acme.web_services, globex.web_services, default.web_services) == (
        {"crm", "acme_crm"}, {"globex_crm"}, {"crm"})
    assert tenancy.withheld_web_services("globex") == {"crm", "acme_crm"}
    assert tenancy.withheld_web_services("unknown") == {"crm", "acme_crm", "globex_crm"}
