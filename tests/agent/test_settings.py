"""The ``agent_api`` config section (orchestrator/agent/settings.py): what stops start-up, saying
which file and key, and what the defaults give a single-tenant site."""
import os
import subprocess
import sys

import pytest

from orchestrator.agent.settings import Destinations, DuplicateToken, Principal, TokenTable
from orchestrator.config import ConfigError, load_config
from orchestrator.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


def config_file(tmp_path, agent_api, tenants=("acme",)):
    path = tmp_path / "orchestrator.yaml"
    lines = ["http: {enabled: true, host: 127.0.0.1, port: 0}",
             "tenants: [%s]" % ", ".join(tenants), "agent_api:", "  tokens:"]
    lines += ["    - %s" % token for token in agent_api.get("tokens", [])]
    lines += ["  %s" % line for line in agent_api.get("more", [])]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_token_given_twice_stops_start_up_naming_the_file_and_both_keys(tmp_path):
    path = config_file(tmp_path, {"tokens": ["{token: %s, tenant: acme, agent: alice}" % ALICE,
                                             "{token: %s, tenant: acme, agent: bob}" % BOB,
                                             "{token: %s, tenant: acme}" % ALICE]})
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message == ("%s: agent_api.tokens[2].token: the same token as agent_api.tokens[0]; "
                       "each token must be unique" % path)
    assert ALICE not in message                      # the secret itself is never repeated


def test_orchestrator_run_refuses_duplicate_tokens_with_that_message(tmp_path):
    path = config_file(tmp_path, {"tokens": ["{token: %s, tenant: acme}" % ALICE,
                                             "{token: %s, tenant: acme, agent: bob}" % ALICE]})
    result = subprocess.run([sys.executable, "-m", "orchestrator", "run", "--config", path], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    # at the line and column of the repeated token (the second item of tokens, line 6)
    assert ("%s:6:8: agent_api.tokens[1].token: the same token as agent_api.tokens[0]" % path
            in result.stderr)
    assert ALICE not in result.stderr + result.stdout


def test_a_service_built_from_a_config_changed_in_code_refuses_them_too():
    config = load_config(None, environ={})
    config.data["store"] = {"path": ":memory:"}
    config.data["agent_api"] = dict(config.data["agent_api"], tokens=[{"token": ALICE}, {"token": ALICE}])
    with pytest.raises(ConfigError, match=r"agent_api.tokens\[1\].token: the same token"):
        Service(config)
    with pytest.raises(DuplicateToken):
        TokenTable([{"token": ALICE}, {"token": ALICE, "tenant": "acme"}])


def test_a_tenant_not_listed_under_tenants_stops_start_up(tmp_path):
    path = config_file(tmp_path, {"tokens": ["{token: %s, tenant: acmee}" % ALICE],
                                  "more": ["destinations: {globex: [{extension: '1', context: x}]}"]})
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).splitlines() == [
        "%s: agent_api.tokens[0].tenant: acmee is not listed under tenants (acme)" % path,
        "%s: agent_api.destinations.globex: globex is not listed under tenants (acme)" % path]


def test_a_destination_pattern_must_be_a_regular_expression_and_a_rule_names_one_thing(tmp_path):
    path = config_file(tmp_path, {"tokens": ["{token: %s}" % ALICE],
                                  "more": ["destinations: {acme: [{pattern: '^(30', context: q}]}"]})
    with pytest.raises(ConfigError, match=r"agent_api.destinations.acme\[0\].pattern: not a regular "
                                          r"expression"):
        load_config(path, environ={})
    path = config_file(tmp_path, {"tokens": ["{token: %s}" % ALICE],
                                  "more": ["destinations: {acme: [{pattern: '30', extension: '30', "
                                           "context: q}]}"]})
    with pytest.raises(ConfigError, match=r"agent_api.destinations.acme.0"):
        load_config(path, environ={})


def test_a_single_tenant_site_names_no_tenant(tmp_path):
    path = config_file(tmp_path, {"tokens": ["{token: %s}" % ALICE]}, tenants=())
    config = load_config(path, environ={})
    assert config["agent_api"]["destinations"] == {}
    assert TokenTable(config["agent_api"]["tokens"]).lookup(ALICE) == Principal("default", None)


def test_destinations_match_extension_and_context_exactly_or_a_whole_pattern():
    allowed = Destinations({"acme": [{"extension": "2001", "context": "default"},
                                     {"pattern": "^30[0-9]{2}$", "context": "queues"},
                                     {"pattern": "40[0-9]", "context": "queues"}]})
    assert allowed.allows("acme", "2001", "default")
    assert allowed.allows("acme", "3010", "queues") and allowed.allows("acme", "401", "queues")
    for extension, context in (("2001", "public"), ("20010", "default"), ("3010", "default"),
                               ("4010", "queues"), ("x401", "queues"), ("900123456789", "public")):
        assert not allowed.allows("acme", extension, context), (extension, context)
    assert not allowed.allows("globex", "2001", "default")


def test_a_tokens_refund_permission_is_a_boolean_checked_at_its_line_and_column(tmp_path):
    """``refund: true`` on a token (agent_api.tokens or a tenant's block) gives its principal
    the permission; anything but a boolean is refused where it is written."""
    import subprocess
    import sys

    from orchestrator.config import load_config
    (tmp_path / "flows").mkdir()
    path = tmp_path / "orchestrator.yaml"
    path.write_text("flows: {directory: flows}\n"
                    "tenants:\n"
                    "  acme:\n"
                    "    tokens:\n"
                    "      - token: acme-token-0123456789\n"
                    "        refund: \"yes\"\n")
    root = __file__.rsplit("/tests/", 1)[0]
    result = subprocess.run([sys.executable, "-m", "orchestrator", "check", "--config", str(path)],
                            cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "%s:6:9: tenants.acme.tokens.0.refund: 'yes' is not of type 'boolean'" % path \
        in result.stdout.splitlines()
    path.write_text(path.read_text().replace('"yes"', "true"))
    tokens = load_config(str(path), environ={})["agent_api"]["tokens"]
    table = TokenTable(tokens)
    assert table.lookup("acme-token-0123456789") == Principal("acme", None, False, True)
    assert TokenTable([{"token": "other-token-0123456789"}]).lookup(
        "other-token-0123456789").refund is False
