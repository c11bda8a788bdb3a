"""The ``tenants`` section as the config loader reads it: the list shape still loads, blocks are
checked against the rest of the config (each error naming file:key) and written into the one
shape the agent API reads."""
import os

import pytest
import yaml

from orchestrator.config import ConfigError, load_config

SECRET = "webhook-secret-0123456789"
TOKEN_A, TOKEN_B = "acme-token-0123456789", "globex-token-012345678"


def write(tmp_path, data, name="orchestrator.yaml"):
    (tmp_path / "flows").mkdir(exist_ok=True)
    data = dict({"flows": {"directory": "flows"}}, **data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def refused(path, *lines):
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value).splitlines() == ["%s: %s" % (path, line) for line in lines]


def test_a_site_without_tenants_loads_as_before_with_nothing_to_say(tmp_path):
    config = load_config(write(tmp_path, {}), environ={})
    assert config["tenants"] == [] and config.deprecations == []
    assert "agents_by_tenant" not in config["agent_api"]


def test_the_list_shape_loads_and_says_its_tenants_share_everything(tmp_path):
    path = write(tmp_path, {"tenants": ["acme", "globex"],
                            "agent_api": {"tokens": [{"token": TOKEN_A, "tenant": "acme"}],
                                          "webhooks": {"acme": {"url": "http://127.0.0.1:9/h",
                                                                "secret": SECRET}}}})
    config = load_config(path, environ={})
    assert config["tenants"] == ["acme", "globex"]
    assert config["agent_api"]["tokens"] == [{"token": TOKEN_A, "tenant": "acme"}]
    assert config.deprecations == [
        "%s: tenants: a list, so acme, globex share every flow, gateway and prompt catalog of "
        "this config; give each tenant a block of its own to keep them apart (README: Running "
        "several tenants)" % path]


def test_a_block_holds_its_tenants_tokens_agents_destinations_and_webhook(tmp_path):
    path = write(tmp_path, {"tenants": {"acme": {
        "tokens": [{"token": TOKEN_A, "agent": "alice"}],
        "agents": {"alice": {"extension": "1001", "context": "acme"}},
        "destinations": [{"extension": "2001", "context": "acme"}],
        "webhook": {"url": "http://127.0.0.1:9/h", "secret": SECRET}}, "globex": None},
        "agent_api": {"tokens": [{"token": TOKEN_B}], "agents": {"alice": {"extension": "9"}}}})
    config = load_config(path, environ={})
    api = config["agent_api"]
    assert api["tokens"] == [{"token": TOKEN_B}, {"token": TOKEN_A, "agent": "alice", "tenant": "acme"}]
    assert api["destinations"] == {"acme": [{"extension": "2001", "context": "acme"}]}
    assert api["webhooks"] == {"acme": {"url": "http://127.0.0.1:9/h", "secret": SECRET}}
    # acme's alice is acme's; the top-level one stays the default tenant's (and list tenants')
    assert api["agents_by_tenant"] == {"acme": {"alice": {"extension": "1001", "context": "acme"}},
                                       "globex": {}}
    assert api["agents"] == {"alice": {"extension": "9"}}
    assert sorted(config["tenants"]) == ["acme", "globex"]
    assert config.deprecations == []


@pytest.mark.parametrize("flows,expected", [
    ("acme-flows", {"directory": "acme-flows", "names": []}),
    (["welcome"], {"directory": None, "names": ["welcome"]}),
    ({"directory": "acme-flows", "names": ["welcome"], "default": "x",
      "by_destination": {"7000": "x"}},
     {"directory": "acme-flows", "names": ["welcome"], "default": "x",
      "by_destination": {"7000": "x"}}),
])
def test_a_tenants_flows_are_a_folder_names_granted_or_both(tmp_path, flows, expected):
    config = load_config(write(tmp_path, {"tenants": {"acme": {"flows": flows}}}), environ={})
    block = config["tenants"]["acme"]["flows"]
    if expected["directory"]:     # relative to the config file, as every local path
        expected = dict(expected, directory=os.path.join(str(tmp_path), expected["directory"]))
    assert {key: block[key] for key in expected} == expected


def test_a_tenants_catalog_folder_is_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, {"tenants": {"acme": {"prompts": {
        "catalog_dir": "catalogs/acme", "languages": ["es"]}}}}), environ={})
    assert config["tenants"]["acme"]["prompts"] == {
        "catalog_dir": os.path.join(str(tmp_path), "catalogs", "acme"), "languages": ["es"]}


def test_what_agent_api_keeps_for_a_tenant_with_a_block_is_refused_with_where_it_goes(tmp_path):
    path = write(tmp_path, {"tenants": {"acme": {}}, "agent_api": {
        "tokens": [{"token": TOKEN_B}, {"token": TOKEN_A, "tenant": "acme"}],
        "destinations": {"acme": [{"extension": "2001", "context": "acme"}]},
        "webhooks": {"acme": {"url": "http://127.0.0.1:9/h", "secret": SECRET}}}})
    refused(path,
            "agent_api.tokens[1].tenant: acme has a block under tenants: move this token to "
            "tenants.acme.tokens (without tenant)",
            "agent_api.destinations.acme: acme has a block under tenants: move this to "
            "tenants.acme.destinations",
            "agent_api.webhooks.acme: acme has a block under tenants: move this to "
            "tenants.acme.webhook")


def test_a_token_given_twice_anywhere_is_refused_naming_both_keys(tmp_path):
    path = write(tmp_path, {"tenants": {"acme": {"tokens": [{"token": TOKEN_A}]},
                                        "globex": {"tokens": [{"token": TOKEN_A}]}},
                            "agent_api": {"tokens": [{"token": TOKEN_A}]}})
    refused(path,
            "tenants.acme.tokens[0].token: the same token as agent_api.tokens[0]; each token "
            "must be unique",
            "tenants.globex.tokens[0].token: the same token as agent_api.tokens[0]; each token "
            "must be unique")


def test_gateway_names_are_unique_across_the_config_and_grants_name_top_level_ones(tmp_path):
    sandbox = {"name": "pay", "type": "sandbox", "url": "http://127.0.0.1:9"}
    path = write(tmp_path, {"gateways": [sandbox], "tenants": {
        "acme": {"gateways": [dict(sandbox)]},
        "globex": {"gateways": ["nope", dict(sandbox, name="globex_pay")]},
        "initech": {"gateways": ["globex_pay"]}}})
    refused(path,
            "tenants.acme.gateways[0].name: pay is also the name of gateways[0]; gateway names "
            "are unique across the config (a payment record names its gateway)",
            "tenants.globex.gateways[0]: no gateway nope under the top-level gateways (known: "
            "pay); a tenant is granted only those, or defines its own here",
            "tenants.initech.gateways[0]: no gateway globex_pay under the top-level gateways "
            "(known: pay); a tenant is granted only those, or defines its own here")


def test_a_tenants_flow_folder_is_its_own(tmp_path):
    path = write(tmp_path, {"tenants": {"acme": {"flows": "flows"},
                                        "globex": {"flows": "shared"},
                                        "initech": {"flows": "./shared/"}}})
    flows, shared = os.path.join(str(tmp_path), "flows"), os.path.join(str(tmp_path), "shared")
    refused(path,
            "tenants.acme.flows.directory: %s is also flows.directory; each tenant's flows have "
            "a folder of their own" % flows,
            "tenants.initech.flows.directory: %s is also tenants.globex.flows.directory; each "
            "tenant's flows have a folder of their own" % shared)


def test_a_bad_destination_pattern_in_a_block_names_the_blocks_key(tmp_path):
    path = write(tmp_path, {"tenants": {"acme": {"destinations": [
        {"extension": "2001", "context": "acme"}, {"pattern": "^(30", "context": "acme"}]}}})
    with pytest.raises(ConfigError, match=r"orchestrator\.yaml: tenants\.acme\.destinations\[1\]"
                                          r"\.pattern: not a regular expression"):
        load_config(path, environ={})


@pytest.mark.parametrize("tenants,key", [
    ({"default": {}}, "tenants"),                                   # reserved names
    ({"acme": {"flows": {"folder": "x"}}}, "tenants.acme.flows"),
    ({"acme": {"tokens": [{"token": TOKEN_A, "tenant": "acme"}]}}, "tenants.acme.tokens.0"),
    ({"acme": {"gateways": [{"name": "x", "type": "nope"}]}}, "tenants.acme.gateways.0.type"),
    ({"acme": {"colour": "red"}}, "tenants.acme"),
])
def test_a_block_is_checked_by_the_schema_naming_the_key(tmp_path, tenants, key):
    with pytest.raises(ConfigError, match=r"orchestrator\.yaml: %s: " % key.replace(".", r"\.")):
        load_config(write(tmp_path, {"tenants": tenants}), environ={})


def test_web_service_names_are_unique_across_the_config_and_grants_name_top_level_ones(tmp_path):
    crm = {"name": "crm", "url": "https://crm.example"}
    path = write(tmp_path, {"web_services": [crm], "tenants": {
        "acme": {"web_services": [dict(crm)]},
        "globex": {"web_services": ["nope", dict(crm, name="globex_crm")]}}})
    refused(path,
            "tenants.acme.web_services[0].name: crm is also the name of web_services[0]; web "
            "service names are unique across the config",
            "tenants.globex.web_services[0]: no web service nope under the top-level "
            "web_services (known: crm)")
