"""``orchestrator check``, ``validate --config`` and ``run``: a config and its flows proven
before a caller hears them, every problem at file:line:column (orchestrator/config_check.py)."""
import os
import shutil
import subprocess
import sys

from orchestrator.config import ConfigError, load_config
from orchestrator.config_check import check_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX = "gateways: [{name: sandbox, type: sandbox, url: 'http://127.0.0.1:9'}]\n"


def orchestrator(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


def pay_flow(folder, name="pay", gateway="sandbox", prompt="payment_approved", extra=""):
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), name + ".yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("flow: %s\nvars: {amount: '100', currency: EUR, reference: r}\nsteps:\n"
                     "  - answer: {}\n  - collect_card: {}\n"
                     "  - authorize: {gateway: %s, on: {declined: done, error: done}}\n"
                     "  - announce: %s\n%s  - id: done\n    hangup: {}\n"
                     % (name, gateway, prompt, extra))
    return path


def site(tmp_path, text):
    config = tmp_path / "c.yaml"
    config.write_text("listen: {port: 0}\nhttp: {enabled: false}\nstore: {path: ':memory:'}\n"
                      "flows: {directory: flows}\n" + text)
    return str(config)


def test_validate_without_a_config_checks_against_the_defaults_and_says_so(tmp_path):
    flow = pay_flow(tmp_path, prompt="payment_aproved")
    result = orchestrator("validate", flow)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "%s:7:15: announce: no prompt 'payment_aproved' in the en catalog "
        "(orchestrator/catalog/en.yaml) (did you mean 'payment_approved'?)" % flow]
    assert result.stderr.startswith("checked against the built-in defaults: catalogs en, es, ru "
                                    "(orchestrator/catalog); gateways sandbox;")


def test_validate_with_a_config_checks_against_its_catalogs(tmp_path):
    """The config's prompts.catalog_dir is what the flow speaks from: a key only the built-in
    catalog has fails there, at the same position."""
    flow = pay_flow(tmp_path / "flows", prompt="payment_approved")
    catalogs = tmp_path / "catalogs"
    catalogs.mkdir()
    with open(os.path.join(ROOT, "orchestrator", "catalog", "en.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    (catalogs / "en.yaml").write_text(text.replace("  payment_approved:", "  payment_aproved:"))
    config = site(tmp_path, SANDBOX + "prompts: {catalog_dir: catalogs}\n")
    result = orchestrator("validate", "--config", config)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "%s:7:15: announce: no prompt 'payment_approved' in the en catalog (%s) (did you mean "
        "'payment_aproved'?)" % (flow, catalogs / "en.yaml")]
    assert orchestrator("validate", flow).returncode == 0      # the built-in catalog has it


def test_check_names_a_key_typo_at_its_line_and_column_with_a_did_you_mean(tmp_path):
    pay_flow(tmp_path / "flows")
    config = site(tmp_path, SANDBOX + "timeouts:\n  reply: 5\n  anser: 10\n")
    result = orchestrator("check", "--config", config)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "%s:8:3: timeouts: Additional properties are not allowed ('anser' was unexpected) "
        "(did you mean 'answer'?)" % config]
    # the library's message keeps the form scripts read, the key first
    try:
        load_config(config)
    except ConfigError as exc:
        assert str(exc) == ("%s: timeouts: Additional properties are not allowed ('anser' was "
                            "unexpected) (did you mean 'answer'?)" % config)


def test_check_passes_a_good_config_showing_the_flows_warnings(tmp_path):
    pay_flow(tmp_path / "flows", extra="  - call_service: {service: crm}\n")
    config = site(tmp_path, SANDBOX + "web_services: [{name: crm, url: 'https://crm.example'}]\n")
    result = orchestrator("check", "--config", config)
    assert result.returncode == 0, result.stdout
    flow = str(tmp_path / "flows" / "pay.yaml")
    assert result.stdout.splitlines() == [
        "%s:8:5: warning: call_service has no 'on: {error: <step id>}' branch: the step would "
        "end the flow with an error, and the call in the dialplan's fallback instead of a branch "
        "of this flow" % flow,
        "%s:8:5: warning: call_service has no 'on: {timeout: <step id>}' branch: the step would "
        "end the flow with an error, and the call in the dialplan's fallback instead of a branch "
        "of this flow" % flow,
        "%s: OK (1 flows, tenants: default)" % config]
    assert orchestrator("validate", "--config", config).stdout == result.stdout


def test_check_names_an_unknown_gateway_web_service_and_sms_provider(tmp_path):
    flow = pay_flow(tmp_path / "flows", gateway="sandbx",
                    extra="  - call_service: {service: crm, on: {error: done, timeout: done}}\n"
                          "  - send_sms: {provider: sms, on: {error: done, timeout: done}}\n")
    config = site(tmp_path, SANDBOX)
    report = check_config(config)
    assert report.flow_errors == [
        "%s:6:26: authorize: gateway 'sandbx' is not in %s (gateways: sandbox) (did you mean "
        "'sandbox'?)" % (flow, config),
        "%s:8:29: call_service: web service 'crm' is not in %s, which defines no web_services"
        % (flow, config),
        "%s:9:26: send_sms: SMS provider 'sms' is not in %s, which defines no sms_providers"
        % (flow, config)]


def test_check_names_a_tenants_flow_naming_a_gateway_nobody_defines(tmp_path):
    flow = pay_flow(tmp_path / "acme", name="acme_pay", gateway="acme_gx")
    (tmp_path / "flows").mkdir()
    config = site(tmp_path, "tenants:\n  acme:\n    flows: {directory: acme}\n    gateways:\n"
                            "      - {name: acme_gw, type: sandbox, url: 'http://127.0.0.1:9'}\n")
    result = orchestrator("check", "--config", config)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "%s:6:26: authorize: gateway 'acme_gx' is not in %s (gateways: acme_gw) (did you mean "
        "'acme_gw'?)" % (flow, config)]


def test_check_names_a_language_no_catalog_has_and_one_the_tenant_does_not_speak(tmp_path):
    flow = pay_flow(tmp_path / "flows")
    with open(flow, encoding="utf-8") as handle:
        text = handle.read()
    with open(flow, "w", encoding="utf-8") as handle:
        handle.write("language: es-ES\n" + text)
    config = site(tmp_path, SANDBOX)
    assert check_config(config).flow_errors == [
        "%s:1:11: the flow speaks es-ES, but there is no catalog for it in %s (did you mean "
        "'es'?)" % (flow, os.path.relpath(os.path.join(ROOT, "orchestrator", "catalog")))]
    with open(flow, "w", encoding="utf-8") as handle:
        handle.write("language: en\n" + text)
    config = site(tmp_path, SANDBOX + "prompts: {languages: [es]}\n")
    assert check_config(config).flow_errors == [
        "%s:1:11: the flow speaks en, which prompts.languages of %s does not list (es)"
        % (flow, config)]


def test_run_refuses_a_flow_whose_gateway_the_config_lacks(tmp_path):
    flow = pay_flow(tmp_path / "flows")
    config = site(tmp_path, "")
    result = orchestrator("run", "--config", config)
    assert result.returncode == 2
    assert result.stderr.endswith(
        "flow errors:\n%s:6:26: authorize: gateway 'sandbox' is not in %s, which defines no "
        "gateways\n" % (flow, config))


def test_run_refuses_a_bad_config_at_its_line_and_column(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("listen:\n  host: 127.0.0.1\n  prot: 8084\n")
    result = orchestrator("run", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == ("configuration error:\n%s:3:3: listen: Additional properties are "
                             "not allowed ('prot' was unexpected) (did you mean 'port'?)\n" % config)


def test_a_problem_found_after_the_schema_is_placed_at_its_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("nodes:\n  - {name: a, host: h, password: p}\nmin_nodes_up: 2\n")
    try:
        load_config(str(config))
    except ConfigError as exc:
        assert exc.lines() == ["%s:3:1: min_nodes_up: 2, but only 1 node(s) are configured: the "
                               "service would never be ready" % config]
    else:
        raise AssertionError("min_nodes_up past the nodes was accepted")
    config.write_text("max_calls: 5\nmax_calls: 6\n")
    try:
        load_config(str(config))
    except ConfigError as exc:
        assert exc.lines() == ["%s:2:1: max_calls: written twice (first at line 1); remove one"
                               % config]
    else:
        raise AssertionError("a key written twice was accepted")


def test_the_shipped_deploy_config_passes_check_and_names_what_card_payment_needs(tmp_path):
    etc = tmp_path / "payivr"
    etc.mkdir()
    shutil.copy(os.path.join(ROOT, "deploy", "orchestrator.yaml"), str(etc))
    os.symlink(os.path.join(ROOT, "flows"), str(etc / "flows"))    # as the compose file mounts it
    environ = {"FS_ESL_PASSWORD": "x", "PAYIVR_DB_PASSWORD": "y"}
    config = str(etc / "orchestrator.yaml")
    report = check_config(config, environ)
    assert report.ok, report.config_errors + report.flow_errors
    assert sorted(report.library) == ["amount_due", "welcome"]
    # serving card_payment without a gateway is refused, naming the line of its authorize
    with open(config, encoding="utf-8") as handle:
        text = handle.read()
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(text.replace("names: [welcome, amount_due]",
                                  "names: [welcome, amount_due, card_payment]"))
    report = check_config(config, environ)
    flow = str(etc / "flows" / "card_payment.yaml")
    with open(flow, encoding="utf-8") as handle:
        line = [n for n, text in enumerate(handle, 1) if "gateway: sandbox" in text][0]
    assert report.flow_errors == ["%s:%d:16: authorize: gateway 'sandbox' is not in %s, which "
                                  "defines no gateways" % (flow, line, config)]


def test_flows_names_must_name_flows_of_the_folder(tmp_path):
    pay_flow(tmp_path / "flows")
    config = tmp_path / "c.yaml"
    config.write_text("flows:\n  directory: flows\n  names: [pya]\n")
    report = check_config(str(config))
    assert report.config_errors == [
        "%s:3:11: flows.names[0]: no flow named 'pya' in %s (known: pay)"
        % (config, tmp_path / "flows")]
