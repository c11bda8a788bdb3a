"""SMS providers and payment links, each tenant's own: defined in a tenant's block or granted
from the top level as gateways are, refused to every other tenant when the config loads (naming
the file and key), on the call (the flow's error, or ``on.error``, and a refusal counted) and at
the link webhook (a notice signed with one tenant's secret never settles another's payment)."""
import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest
import requests
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.engine import FlowRunner, load_flow_text
from orchestrator.engine.services import CallServices
from orchestrator.engine.step_api import registered_kinds
from orchestrator.payments import signing
from orchestrator.service import Service
from orchestrator.store.links import PaymentLinks, new_token
from orchestrator.tenancy.loading import load_library, plan

from tests.engine.fake_channel import FakeChannel
from tests.support.service import FLOWS
from tests.support.tenants import carrier_site, line_of, write_flow

URL = "http://127.0.0.1:9"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP_SECRET, ACME_SECRET, GLOBEX_SECRET = ("top-link-secret-0123456", "acme-link-secret-0123456",
                                          "globex-link-secret-012345")
ACME_NUMBER = "+34600111222"

LINK_FLOW = """\
flow: {name}
vars: {{amount: "4250", currency: EUR, reference: {reference}}}
steps:
  - answer: {{}}
  - send_payment_link: {{link: {link}, provider: {provider}, on: {{error: failed}}}}
  - transfer_back: {{to: goodbye}}
  - id: failed
    hangup: {{cause: CALL_REJECTED}}
"""


def template(url, secret, **more):
    return dict({"type": "template", "url": url, "secret": secret, "expires_after": 600}, **more)


def link_site(folder, http_port=None):
    """The carrier site (tests/support/tenants.py) with a top-level SMS provider and payment
    link (the default tenant's, granted to acme), and acme and globex each with their own."""
    site = carrier_site(folder, URL)
    site["sms_providers"] = [{"name": "sms", "type": "sink"}]
    site["payment_links"] = {"paylink": template("https://pay.example/{token}", TOP_SECRET)}
    acme, globex = site["tenants"]["acme"], site["tenants"]["globex"]
    acme["sms_providers"] = [{"name": "acme_sms", "type": "sink"}, "sms"]
    acme["payment_links"] = [dict(template("https://acme.example/pay/{token}", ACME_SECRET),
                                  name="acme_link"), "paylink"]
    globex["sms_providers"] = [{"name": "globex_sms", "type": "sink"}]
    globex["payment_links"] = [dict(template("https://globex.example/pay/{token}", GLOBEX_SECRET),
                                    name="globex_link")]
    write_flow(acme["flows"]["directory"], LINK_FLOW.format(
        name="acme_link_pay", link="acme_link", provider="acme_sms", reference="ACME-1"))
    write_flow(globex["flows"], LINK_FLOW.format(
        name="globex_link_pay", link="globex_link", provider="globex_sms", reference="GLX-1"))
    return site


def config_file(tmp_path, config, name="orchestrator.yaml"):
    path = tmp_path / name
    data = dict({"store": {"path": ":memory:"}, "http": {"enabled": True, "port": 0},
                 "listen": {"port": 0}}, **config)
    path.write_text(yaml.safe_dump(data))
    return str(path)


def refusal_lines(path):
    """The lines of the ConfigError that stops the service being built from the file."""
    with pytest.raises(ConfigError) as raised:
        Service(load_config(path, environ={})).stop(grace=0)
    return str(raised.value).splitlines()


@pytest.fixture
def site(tmp_path):
    return link_site(tmp_path / "site")


# ---- the config ------------------------------------------------------------------------------

def test_each_tenant_has_its_own_and_its_granted_providers_and_links(tmp_path, site):
    loaded = load_config(config_file(tmp_path, site), environ={})
    tenancy, errors, warnings = plan(loaded, load_library(loaded))
    assert errors == [] and warnings == []
    acme, globex, default = (tenancy.plan(name) for name in ("acme", "globex", "default"))
    assert (acme.sms_providers, globex.sms_providers, default.sms_providers) == (
        {"acme_sms", "sms"}, {"globex_sms"}, {"sms"})
    assert (acme.payment_links, globex.payment_links, default.payment_links) == (
        {"acme_link", "paylink"}, {"globex_link"}, {"paylink"})
    assert tenancy.withheld_sms_providers("globex") == {"acme_sms", "sms"}
    assert tenancy.withheld_payment_links("acme") == {"globex_link"}
    assert tenancy.plan("unknown").sms_providers == frozenset()
    assert tenancy.plan("unknown").payment_links == frozenset()
    assert tenancy.link_tenants("acme_link") == {"acme"}
    assert tenancy.link_tenants("paylink") == {"acme", "default"}
    service = Service(loaded)
    assert sorted(service.sms_providers) == ["acme_sms", "globex_sms", "sms"]
    assert sorted(service.payment_links) == ["acme_link", "globex_link", "paylink"]
    assert service.payment_links["acme_link"].secret == ACME_SECRET
    service.stop(grace=0)


def test_a_site_without_blocks_shares_its_providers_and_links_with_every_tenant(tmp_path):
    path = config_file(tmp_path, {"flows": {"directory": FLOWS}, "tenants": ["acme"], "sms_providers": [{"name": "sms", "type": "sink"}],
                                  "payment_links": {"paylink": template("https://p.example/{token}",
                                                                        TOP_SECRET)}})
    loaded = load_config(path, environ={})
    tenancy, errors, _ = plan(loaded, load_library(loaded))
    assert errors == []
    assert tenancy.plan("acme").sms_providers == {"sms"} and tenancy.plan("acme").payment_links == {"paylink"}
    assert tenancy.withheld_sms_providers("acme") == frozenset()
    assert tenancy.link_tenants("paylink") is None


def test_names_are_unique_across_the_config_and_grants_name_top_level_ones(tmp_path, site):
    site["tenants"]["globex"]["sms_providers"] = [{"name": "acme_sms", "type": "sink"}, "nope"]
    site["tenants"]["globex"]["payment_links"] = [
        dict(template("https://g.example/{token}", GLOBEX_SECRET), name="paylink"), "elsewhere"]
    path = config_file(tmp_path, site)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value).splitlines() == ["%s: %s" % (path, line) for line in (
        "tenants.globex.sms_providers[0].name: acme_sms is also the name of "
        "tenants.acme.sms_providers[0]; SMS provider names are unique across the config",
        "tenants.globex.sms_providers[1]: no SMS provider nope under the top-level sms_providers "
        "(known: sms); a tenant is granted only those, or defines its own here",
        "tenants.globex.payment_links[0].name: paylink is also the name of payment_links.paylink; "
        "payment link names are unique across the config",
        "tenants.globex.payment_links[1]: no payment link elsewhere under the top-level "
        "payment_links (known: paylink); a tenant is granted only those, or defines its own here")]


def test_two_top_level_providers_of_one_name_stop_start_up_on_a_site_without_blocks(tmp_path):
    path = config_file(tmp_path, {"flows": {"directory": FLOWS}, "sms_providers": [
        {"name": "sms", "type": "sink"}, {"name": "sms", "type": "sink"}]})
    assert refusal_lines(path) == ["%s: sms_providers[1].name: a second SMS provider named sms"
                                   % path]


@pytest.mark.parametrize("entry,key,message", [
    ({"name": "acme_sms", "type": "carrier_pigeon"}, "tenants.acme.sms_providers.0.type",
     "'carrier_pigeon' is not one of ['http', 'twilio', 'sink']"),
    (dict(template("https://a.example/{token}", "short"), name="acme_link"),
     "tenants.acme.payment_links.0.secret", "'short' is too short"),
    (template("https://a.example/{token}", ACME_SECRET), "tenants.acme.payment_links.0",
     "'name' is a required property"),
    ("bad name!", "tenants.acme.payment_links.0", "'bad name!' does not match '^[A-Za-z0-9_-]{1,40}$'"),
], ids=["provider-type", "link-secret", "link-name-missing", "granted-name"])
def test_a_bad_tenant_entry_names_the_file_and_key(tmp_path, site, entry, key, message):
    section = "sms_providers" if key.split(".")[2] == "sms_providers" else "payment_links"
    site["tenants"]["acme"][section] = [entry]
    path = config_file(tmp_path, site)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert "%s: %s: %s" % (path, key, message) in str(raised.value).splitlines()


def test_a_tenants_link_the_maker_cannot_use_stops_start_up_naming_its_key(tmp_path, site):
    site["tenants"]["acme"]["payment_links"][0]["url"] = "https://acme.example/pay"   # no {token}
    path = config_file(tmp_path, site)
    [line] = refusal_lines(path)
    assert line.startswith("%s: tenants.acme.payment_links[0]: payment_links.acme_link.url: "
                           % path), line


def test_link_expiry_is_bounded(tmp_path):
    for interval, message in ((0.5, "0.5 is less than the minimum of 1"),
                              (7200, "7200 is greater than the maximum of 3600")):
        path = config_file(tmp_path, {"link_expiry": {"interval": interval}})
        with pytest.raises(ConfigError) as raised:
            load_config(path, environ={})
        assert str(raised.value) == "%s: link_expiry.interval: %s" % (path, message)
    assert load_config(config_file(tmp_path, {}), environ={})["link_expiry"] == {"interval": 60}


# ---- a tenant's flows, checked before any call -----------------------------------------------

def test_a_tenants_flow_naming_another_tenants_provider_or_link_stops_start_up(tmp_path, site):
    folder = site["tenants"]["globex"]["flows"]
    sneaky = write_flow(folder, LINK_FLOW.format(name="globex_sneaky", link="acme_link",
                                                 provider="acme_sms", reference="X"))
    path = config_file(tmp_path, site)
    line = line_of(sneaky, "- send_payment_link:")
    where = "flow globex_sneaky (%s:%d)" % (sneaky, line)
    assert refusal_lines(path) == [
        "%s: tenants.globex.sms_providers: %s: send_payment_link names SMS provider 'acme_sms', "
        "which tenant globex has not been granted (held by acme); tenant globex's SMS providers: "
        "globex_sms" % (path, where),
        "%s: tenants.globex.payment_links: %s: send_payment_link names payment link 'acme_link', "
        "which tenant globex has not been granted (held by acme); tenant globex's payment links: "
        "globex_link" % (path, where)]


def test_validate_with_the_config_refuses_what_start_up_would(tmp_path, site):
    path = config_file(tmp_path, site)
    good = subprocess.run([sys.executable, "-m", "orchestrator", "validate", "--config", path],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stdout + good.stderr
    sneaky = write_flow(site["tenants"]["acme"]["flows"]["directory"], LINK_FLOW.format(
        name="acme_sneaky", link="globex_link", provider="acme_sms", reference="X"))
    bad = subprocess.run([sys.executable, "-m", "orchestrator", "validate", "--config", path],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    # the config's line: at acme's payment_links key (validate prints config lines positioned)
    with open(path, encoding="utf-8") as handle:
        text = handle.read().splitlines()
    acme = text.index("  acme:")
    links = acme + 1 + [n for n, line in enumerate(text[acme + 1:])
                        if line == "    payment_links:"][0]
    assert bad.stdout.splitlines() == [
        "%s:%d:5: tenants.acme.payment_links: flow acme_sneaky (%s:%d): send_payment_link names "
        "payment link 'globex_link', which tenant acme has not been granted (held by globex); "
        "tenant acme's payment links: acme_link, paylink"
        % (path, links + 1, sneaky, line_of(sneaky, "- send_payment_link:"))]


def test_a_top_level_provider_not_granted_is_refused_and_granting_it_starts(tmp_path, site):
    folder = site["tenants"]["globex"]["flows"]
    flow = write_flow(folder, """\
flow: globex_confirm
vars: {amount: "100", currency: EUR}
steps:
  - send_sms: {provider: sms, code: false, on: {error: out, timeout: out}}
  - id: out
    hangup: {}
""")
    path = config_file(tmp_path, site)
    assert refusal_lines(path) == [
        "%s: tenants.globex.sms_providers: flow globex_confirm (%s:%d): send_sms names SMS "
        "provider 'sms', which tenant globex has not been granted (held by the default tenant "
        "and acme); tenant globex's SMS providers: globex_sms"
        % (path, flow, line_of(flow, "- send_sms:"))]
    site["tenants"]["globex"]["sms_providers"].append("sms")
    Service(load_config(config_file(tmp_path, site, "granted.yaml"), environ={})).stop(grace=0)


def test_a_name_nobody_defines_is_an_error_for_a_provider_and_a_warning_for_a_link(
        tmp_path, site, caplog):
    folder = site["tenants"]["globex"]["flows"]
    flow = write_flow(folder, LINK_FLOW.format(name="globex_typo", link="globex_lnk",
                                               provider="globex_sms", reference="X"))
    where = "flow globex_typo (%s:%d)" % (flow, line_of(flow, "- send_payment_link:"))
    with caplog.at_level(logging.WARNING, logger="orchestrator.service"):
        Service(load_config(config_file(tmp_path, site), environ={})).stop(grace=0)
    assert ("tenants.globex.payment_links: %s: send_payment_link names payment link 'globex_lnk', "
            "which the config does not define (tenant globex's payment links: globex_link): "
            "choosing the link takes the step's on.error" % where) in caplog.messages
    write_flow(folder, LINK_FLOW.format(name="globex_typo", link="globex_link",
                                        provider="globex_smss", reference="X"))
    path = config_file(tmp_path, site, "typo.yaml")
    assert refusal_lines(path) == [
        "%s: tenants.globex.sms_providers: %s: send_payment_link names SMS provider "
        "'globex_smss', which the config does not define (tenant globex's SMS providers: "
        "globex_sms): the step ends its calls with an error" % (path, where)]


def test_the_steps_declare_the_providers_and_links_they_use():
    kinds = registered_kinds()
    assert kinds["send_sms"].sms_providers({"provider": "p"}) == [(("provider",), "p")]
    assert kinds["send_sms"].payment_links({"provider": "p"}) == []
    link = {"link": "l", "provider": "p"}
    assert kinds["send_payment_link"].sms_providers(link) == [(("provider",), "p")]
    assert kinds["send_payment_link"].payment_links(link) == [(("link",), "l")]


# ---- on the call: what reaches a flow past the checks is refused again -----------------------

def run_steps(body, services):
    flow = load_flow_text(textwrap.dedent(body).lstrip("\n"), "t.yaml")
    channel = FakeChannel()
    outcome = FlowRunner(flow, channel, log=logging.getLogger("test.flow"), tenant=services.tenant,
                         services=services).run()
    return outcome, channel


def test_another_tenants_provider_ends_the_flow_before_anything_runs():
    refused = []
    services = CallServices(tenant="globex", on_refusal=refused.append,
                            withheld_sms_providers=frozenset({"acme_sms"}))
    outcome, channel = run_steps("""
        flow: x
        vars: {amount: "100", currency: EUR}
        steps:
          - answer: {}
          - send_sms: {provider: acme_sms, code: false, on: {error: out, timeout: out}}
          - id: out
            hangup: {}
    """, services)
    assert outcome.result == "error" and channel.calls == []
    assert outcome.detail == ("send_sms: SMS provider 'acme_sms' is not granted to tenant globex "
                              "(its SMS providers: none)")
    assert refused == ["sms_provider"]


def test_another_tenants_link_takes_the_steps_error_branch_with_nothing_recorded(tmp_path):
    from orchestrator.sms.providers import SinkSmsProvider
    from orchestrator.store import PaymentStore

    store = PaymentStore(str(tmp_path / "p.sqlite"))
    sink = SinkSmsProvider("globex_sms")
    refused = []
    services = CallServices(tenant="globex", store=store, sms_providers={"globex_sms": sink},
                            on_refusal=refused.append,
                            withheld_payment_links=frozenset({"acme_link"}))
    outcome, channel = run_steps(LINK_FLOW.format(name="x", link="acme_link", provider="globex_sms",
                                                  reference="X"), services)
    assert outcome.step == "failed", outcome
    assert store.list() == [] and list(sink.messages) == []
    assert refused == ["payment_link"]
    store.close()


# ---- the service: each tenant's call texts through its own, each webhook settles its own -----

@pytest.fixture
def world(service_on_simulator, tmp_path):
    site = link_site(tmp_path / "site")
    return service_on_simulator(dict(site, http={"enabled": True, "port": 0}))


def link_call(world, tenant, flow):
    result = world.run_call(None, {"pay_tenant": tenant, "pay_flow": flow},
                            caller_id_number=ACME_NUMBER)
    [row] = [row for row in world.service.store.list() if row["call_uuid"] == result.record.uuid]
    return row


def token_of(world, provider, prefix):
    [message] = world.service.sms_providers[provider].messages
    return message.text.split(prefix)[1].split()[0]


def post(world, link, token, secret, value=4250):
    body = json.dumps({"token": token, "event": "paid", "amount": {"value": value, "currency": "EUR"},
                       "auth_code": "AUTH1"}).encode()
    host, port = world.http_address[:2]
    headers = dict(signing.signed_headers(secret, body), **{"Content-Type": "application/json"})
    return requests.post("http://%s:%d/webhooks/links/%s" % (host, port, link), data=body,
                         headers=headers, timeout=10)


def test_each_tenants_call_texts_its_own_link_through_its_own_provider(world):
    acme = link_call(world, "acme", "acme_link_pay")
    globex = link_call(world, "globex", "globex_link_pay")
    assert (acme["tenant"], acme["gateway"], acme["status"]) == ("acme", "acme_link", "link_sent")
    assert (globex["tenant"], globex["gateway"], globex["status"]) == ("globex", "globex_link",
                                                                       "link_sent")
    token_of(world, "acme_sms", "https://acme.example/pay/")
    token_of(world, "globex_sms", "https://globex.example/pay/")
    assert list(world.service.sms_providers["sms"].messages) == []
    assert world.metric("payivr_sms_total", tenant="acme", provider="acme_sms", result="sent") == 1


def test_a_notice_signed_with_one_tenants_secret_never_settles_anothers_payment(world):
    acme = link_call(world, "acme", "acme_link_pay")
    token = token_of(world, "acme_sms", "https://acme.example/pay/")
    # globex's secret on acme's path: the signature is wrong
    assert post(world, "acme_link", token, GLOBEX_SECRET).status_code == 401
    # globex's own path and secret, acme's token: not a token of globex's entry
    assert post(world, "globex_link", token, GLOBEX_SECRET).status_code == 404
    # the top-level link's secret (shared with acme, but not the entry that made this link)
    assert post(world, "paylink", token, TOP_SECRET).status_code == 404
    assert world.service.store.get(acme["id"])["status"] == "link_sent"
    # acme's own notice settles it
    answer = post(world, "acme_link", token, ACME_SECRET)
    assert answer.status_code == 200, answer.text
    assert world.service.store.get(acme["id"])["status"] == "approved"


def test_a_shared_link_settles_only_the_payments_of_the_tenants_granted_it(world):
    links = PaymentLinks(world.service.store)
    tokens = {tenant: new_token() for tenant in ("acme", "default", "globex")}
    ids = {tenant: links.record(token=token, link="paylink", amount_minor=4250, currency="EUR",
                                expires=time.time() + 600, tenant=tenant)
           for tenant, token in tokens.items()}
    # globex was never granted paylink (a grant taken back after its link was made)
    assert post(world, "paylink", tokens["globex"], TOP_SECRET).status_code == 404
    assert world.service.store.get(ids["globex"])["status"] == "link_sent"
    for tenant in ("acme", "default"):
        assert post(world, "paylink", tokens[tenant], TOP_SECRET).status_code == 200
        assert world.service.store.get(ids[tenant])["status"] == "approved"
