"""A carrier's site for the tenancy tests: two tenants with folders, gateways and catalogs of
their own, beside the shipped flows (the default tenant's).

``carrier_site(folder, sandbox_url)`` writes acme's and globex's flow folders (and acme's
catalog) under ``folder`` and returns a service config (a dict) giving each tenant its own
sandbox gateway (``acme_gw``, ``globex_gw``: one sandbox server, two merchants' worth of
names), acme its flows folder plus the shipped ``welcome`` granted, globex its own folder;
the site's number map sends 7100 to globex's flow, whatever tenant the call is.
"""
import copy
import os

from tests.support.service import FLOWS, SANDBOX_CLIENT

PAY_FLOW = """\
flow: {name}
language: en
vars:
  amount: ${{channel.pay_amount}}
  currency: ${{channel.pay_currency}}
  reference: ${{channel.pay_reference}}
steps:
  - answer: {{}}
  - announce: amount_due
  - id: card
    collect_card:
      max_attempts: 1
      on: {{cancelled: done, too-many-failed-attempts: done}}
  - authorize:
      gateway: {gateway}
      on: {{declined: done, error: done}}
  - announce: payment_approved
  - id: done
    transfer_back: {{to: goodbye}}
"""

# a transfer whose destination is known on the call only (the dialplan's pay_target)
MENU_FLOW = """\
flow: {name}
steps:
  - answer: {{}}
  - transfer: {{extension: "${{channel.pay_target}}", context: {context}}}
"""

PAYMENT_VARIABLES = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-T1"}
ACME_AMOUNT_WORDS = "Acme Utilities: your balance is"


def write_flow(folder, text, file_name=None):
    """Write one flow file into ``folder`` (made if missing); its path."""
    os.makedirs(folder, exist_ok=True)
    name = file_name or text.split("flow:", 1)[1].split()[0] + ".yaml"
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def line_of(path, text):
    """The 1-based line of ``path`` whose stripped text starts with ``text``."""
    with open(path, encoding="utf-8") as handle:
        return [n for n, line in enumerate(handle, 1) if line.strip().startswith(text)][0]


def acme_catalog(folder):
    """An English catalog of acme's own: the shipped one with its own words for the amount."""
    from orchestrator.catalog import HERE

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(HERE, "en.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    text = text.replace('text: "The amount due is"', 'text: "%s"' % ACME_AMOUNT_WORDS)
    assert ACME_AMOUNT_WORDS in text
    with open(os.path.join(folder, "en.yaml"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return folder


def gateway(name, url):
    return dict(SANDBOX_CLIENT, name=name, type="sandbox", url=url)


def carrier_site(folder, sandbox_url):
    folder = str(folder)
    acme, globex = os.path.join(folder, "acme"), os.path.join(folder, "globex")
    write_flow(acme, PAY_FLOW.format(name="acme_pay", gateway="acme_gw"))
    write_flow(acme, MENU_FLOW.format(name="acme_menu", context="acme"))
    write_flow(globex, PAY_FLOW.format(name="globex_pay", gateway="globex_gw"))
    return {
        "flows": {"directory": FLOWS, "by_destination": {"7100": "globex_pay"}},
        "gateways": [gateway("sandbox", sandbox_url)],
        # the CRM the shipped collections flows ask (the default tenant's); never called here
        "web_services": [{"name": "crm", "url": "https://crm.example"}],
        # and the SMS provider they text through: `run` refuses a flow naming one the config
        # lacks (orchestrator/flow_names.py); their payment link, missing, takes on.error
        "sms_providers": [{"name": "sms", "type": "sink"}],
        "tenants": {
            "acme": {
                "flows": {"directory": acme, "names": ["welcome"]},
                "gateways": [gateway("acme_gw", sandbox_url)],
                "prompts": {"catalog_dir": acme_catalog(os.path.join(folder, "acme-catalog"))},
                # welcome's agent (1000) and the menu's allowed target
                "destinations": [{"extension": "1000", "context": "default"},
                                 {"extension": "2001", "context": "acme"}]},
            "globex": {"flows": globex, "gateways": [gateway("globex_gw", sandbox_url)]},
        },
    }


def without(config, *path):
    """A copy of ``config`` with the key at ``path`` removed."""
    config = copy.deepcopy(config)
    target = config
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return config


def agent_rig_in_blocks(globex_folder):
    """A ``Rig`` ``configure`` (tests/support/agent.py) moving its two tenants into blocks: acme
    granted the shipped card_payment and the sandbox, with its tokens, alice, destinations and
    webhook; globex with a folder and a gateway of its own (``globex_pay`` through
    ``globex_gw``, a closed port: nothing of globex pays here) and its token."""
    write_flow(globex_folder, PAY_FLOW.format(name="globex_pay", gateway="globex_gw"))

    def configure(config):
        api = config["agent_api"]
        tokens = api.pop("tokens")
        destinations, webhooks = api.pop("destinations"), api.pop("webhooks")

        def own(tenant):
            return [{k: v for k, v in entry.items() if k != "tenant"}
                    for entry in tokens if entry["tenant"] == tenant]

        config["tenants"] = {
            "acme": {"flows": ["card_payment"], "gateways": ["sandbox"], "tokens": own("acme"),
                     "agents": api.pop("agents"), "destinations": destinations["acme"],
                     "webhook": webhooks["acme"]},
            "globex": {"flows": {"directory": str(globex_folder)},
                       "gateways": [gateway("globex_gw", "http://127.0.0.1:9")],
                       "tokens": own("globex"), "destinations": destinations["globex"]}}
    return configure
