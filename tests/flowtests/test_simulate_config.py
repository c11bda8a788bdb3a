"""``simulate --config``: the dry run pays through the config's gateways (sandbox and http
connectors, over HTTPS on loopback), speaks its catalogs with its voices, and keeps texts
in a sink instead of its SMS providers; a gateway that cannot be reached fails as in service."""
import io
import logging
import os

import pytest
import yaml

from orchestrator import dry_run
from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CARD_FLOW = os.path.join(ROOT, "flows", "card_payment.yaml")
CATALOG = os.path.join(ROOT, "orchestrator", "catalog", "en.yaml")
SECRET = "flow-tests-gateway-secret-0123"

PAY = """flow: %s
variables: {pay_amount: 2500, pay_currency: EUR, pay_reference: INV-42}
steps:
  - wait_prompt: 3
  - press: "4111111111111111#"
  - wait_prompt: 4
  - press: "1230"
  - wait_prompt: 5
  - press: "737"
""" % CARD_FLOW


@pytest.fixture
def logging_restored():
    """``simulate`` sets the root logger up for a command line; put it back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def https_sandbox(tls_files):
    certfile, keyfile = tls_files
    gateway = SandboxGateway(secret=SECRET, certfile=certfile, keyfile=keyfile,
                             slow_seconds=0.5, hang_seconds=3.0).start()
    yield gateway
    gateway.stop()


def site(tmp_path, gateway, voice="slt"):
    """A config whose catalog says the approval in its own words."""
    catalogs = tmp_path / "catalog"
    catalogs.mkdir()
    catalog = yaml.safe_load(open(CATALOG, encoding="utf-8"))
    catalog["prompts"]["payment_approved"] = [{"text": "Done, the charge went through."}]
    (catalogs / "en.yaml").write_text(yaml.safe_dump(catalog))
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "gateways": [gateway], "tts": {"engine": "flite", "voice": voice},
        "prompts": {"catalog_dir": "catalog"},
        "sms_providers": [{"name": "sms", "type": "twilio", "account_sid": "AC" + "0" * 32,
                           "auth_token": "token-0123456789", "from": "+15005550006"}]}))
    return str(config)


def run(tmp_path, config, expect):
    path = tmp_path / "script.yaml"
    path.write_text(PAY + expect)
    out = io.StringIO()
    code = dry_run.simulate(None, str(path), config=config, out=out)
    return code, out.getvalue()


@pytest.mark.parametrize("kind", ["sandbox", "http"])
def test_the_dry_run_charges_through_the_configs_gateway_with_its_catalog_and_voice(
        tmp_path, https_sandbox, tls_files, logging_restored, kind):
    url = https_sandbox.url + ("/v1/authorizations" if kind == "http" else "")
    gateway = {"name": "sandbox", "type": kind, "url": url, "secret": SECRET,
               "verify": tls_files[0], "read_timeout": 2, "max_attempts": 1}
    code, out = run(tmp_path, site(tmp_path, gateway), "expect:\n"
                    "  prompts: [card.number, payment_approved]\n"
                    "  variables: {pay_result: approved, pay_last4: '1111'}\n"
                    "  charges: {count: 1, amount: 2500, currency: EUR}\n")
    assert code == 0, out
    assert "script.yaml: expectations met (6)" in out
    # the config's words, in the config's voice, for the catalog key
    assert "switch speaks 'flite|slt|Done, the charge went through.'  [payment_approved]" in out
    # the charge was made at that gateway, once, for the amount
    [charge] = https_sandbox.charges
    assert (charge["amount"], charge["currency"], charge["card"]["last4"]) == (2500, "EUR", "1111")


def test_a_gateway_that_cannot_be_reached_fails_the_payment_as_in_service(tmp_path, logging_restored):
    gateway = {"name": "sandbox", "type": "sandbox", "url": "http://127.0.0.1:9",
               "read_timeout": 1, "max_attempts": 1}
    code, out = run(tmp_path, site(tmp_path, gateway), "expect:\n  outcome: approved\n")
    assert code == 1
    assert "expect.outcome: expected approved, got error" in out
    assert "[payment_unconfirmed]" in out
    again = tmp_path / "again"
    again.mkdir()
    code, out = run(again, site(again, gateway), "expect: {outcome: error, charges: 0, payments: [error]}\n")
    assert code == 0, out


def test_a_config_that_cannot_load_is_a_usage_error(tmp_path, capsys, logging_restored):
    config = tmp_path / "bad.yaml"
    config.write_text("max_calls: 0\n")
    path = tmp_path / "script.yaml"
    path.write_text(PAY)
    assert dry_run.simulate(None, str(path), config=str(config), out=io.StringIO()) == 2
    assert "max_calls: 0 is less than the minimum of 1" in capsys.readouterr().err


def test_a_site_config_keeps_its_peers_but_not_its_switches_callbacks_or_real_texts(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "nodes": [{"name": "fs1", "host": "10.0.0.1", "password": "x"}],
        "gateways": [{"name": "g", "type": "sandbox", "url": "http://127.0.0.1:8099"}],
        "web_services": [{"name": "crm", "url": "https://crm.example/v1"}],
        "sms_providers": [{"name": "sms", "type": "twilio", "account_sid": "AC" + "1" * 32,
                           "auth_token": "token-0123456789", "from": "+15005550006"}],
        "secure_entry": {"script": "/opt/site/pay_secure.lua", "fifo_dir": "/var/run/site-fifos"},
        "agent_api": {"webhooks": {"default": {"url": "https://crm.example/hook", "secret": "s" * 20}}}}))
    loaded = load_config(str(config))
    fitted = dry_run._site_config(loaded)
    assert fitted.data["nodes"] == [] and fitted.data["agent_api"]["webhooks"] == {}
    assert fitted.data["secure_entry"] == {"script": "pay_secure.lua", "fifo_dir": ""}
    assert fitted.data["gateways"] == loaded.data["gateways"]
    assert fitted.data["web_services"] == loaded.data["web_services"]
    assert fitted.data["sms_providers"] == [{"name": "sms", "type": "sink"}]
    assert dry_run._site_config(loaded, real_sms=True).data["sms_providers"] == loaded.data["sms_providers"]
    assert loaded.data["nodes"]   # the loaded config itself is left as it was
