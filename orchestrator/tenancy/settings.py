"""The ``tenants`` config section: which tenants a site has and, for each, what is its own.

Two shapes, both valid:

- a list of names (``tenants: [acme, globex]``): the names ``pay_tenant`` may hold. Such a site
  keeps its tenants' tokens, webhooks and destinations apart (under ``agent_api``, keyed by
  tenant) but lets every tenant run every flow and charge every gateway: they share the
  config's flows, gateways and catalogs. It loads as before, with a notice saying so.
- a mapping of name to block: each tenant has exactly what its block declares or is granted,

  .. code-block:: yaml

      tenants:
        acme:
          flows: {directory: flows/acme, names: [welcome], default: acme_pay}
          gateways: [{name: acme_redsys, type: redsys, ...}, shared_sandbox]
          prompts: {catalog_dir: catalogs/acme, languages: [es]}
          tokens: [{token: "${env:ACME_TOKEN}", agent: alice}]
          agents: {alice: {extension: "1001", context: acme}}
          destinations: [{extension: "2001", context: acme}]
          webhook: {url: "https://acme.example/hooks", secret: "${env:ACME_HOOK_SECRET}"}
          sms_providers: [{name: acme_sms, type: twilio, ...}, sms]
          payment_links: [{name: acme_link, type: template, url: ..., secret: ...}, paylink]

  ``flows`` is a folder of the tenant's own, names granted from the top-level library, or
  both; ``gateways`` lists its own (with the merchant's credentials) and names granted from
  the top-level ``gateways``. What is top level is the ``default`` tenant's (calls with no
  ``pay_tenant``), as on a single-tenant site, and shared with each tenant granted it; what
  is one tenant's alone is written in its block. ``web_services``, ``sms_providers`` and
  ``payment_links`` are granted and owned the same way as ``gateways``.

A block is the one place for its tenant's things: ``agent_api.tokens[].tenant``,
``agent_api.destinations.<name>`` and ``agent_api.webhooks.<name>`` naming a tenant that has a
block are refused with the key to move them to. After the checks, the block's tokens,
destinations, webhook and agents are written into ``agent_api`` (keyed by tenant, agents under
``agents_by_tenant``), the one shape the agent API reads. Names of flows and gateways are
unique across the whole config: a payment record names its gateway, and reconciliation must
find that very gateway again; so are the names of web services, SMS providers and payment
links (a link's webhook path names its entry, and so its secret and its tenants).
"""
from __future__ import annotations

import copy
import os
import re
from typing import Any, Dict, List, Mapping, Set, Tuple

from orchestrator.agent.settings import AGENT_API_SCHEMA
from orchestrator.catalog import AUDIO_MODES
from orchestrator.links.settings import LINK_NAME, NAMED_LINK_SCHEMA
from orchestrator.payments.gateways import GATEWAYS_SCHEMA
from orchestrator.sms import SMS_PROVIDERS_SCHEMA
from orchestrator.tenants import DEFAULT_TENANT, UNKNOWN_TENANT
from orchestrator.webservices import WEB_SERVICE_SCHEMA

_TENANT_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$",
                "not": {"enum": [DEFAULT_TENANT, UNKNOWN_TENANT]}}
_FLOW_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
_GATEWAY_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
_api = AGENT_API_SCHEMA["properties"]
_token = copy.deepcopy(_api["tokens"]["items"])
del _token["properties"]["tenant"]          # a block's tokens are its tenant's

_FLOW_NAMES = {"type": "array", "uniqueItems": True, "items": _FLOW_NAME,
               "description": "flows of the top-level flows.directory granted to this tenant"}
FLOWS_BLOCK = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "directory": {"type": "string", "minLength": 1,
                      "description": "a folder of this tenant's own flows"},
        "names": _FLOW_NAMES,
        "default": {"type": "string",
                    "description": "this tenant's flow for calls no pay_flow nor number chooses"},
        "by_destination": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
PROMPTS_BLOCK = {
    "type": "object", "additionalProperties": False,
    "description": "this tenant's catalogs and recordings; a key left out is the top-level one",
    "properties": {"catalog_dir": {"type": ["string", "null"]},
                   "audio_dir": {"type": "string"},
                   "audio": {"enum": list(AUDIO_MODES)},
                   "languages": {"type": "array", "uniqueItems": True, "minItems": 1,
                                 "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$"}}},
}
TENANT_BLOCK = {
    "type": ["object", "null"], "additionalProperties": False,
    "properties": {
        # a folder (text), granted names (a list), or the full block
        "flows": {"if": {"type": "string"}, "then": {"minLength": 1},
                  "else": {"if": {"type": "array"}, "then": _FLOW_NAMES,
                           "else": FLOWS_BLOCK}},
        # each a gateway of the tenant's own (a mapping), or a top-level one's name, granted
        "gateways": {"type": "array", "items": {
            "if": {"type": "string"}, "then": _GATEWAY_NAME, "else": GATEWAYS_SCHEMA["items"]}},
        # each a web service of the tenant's own (its CRM), or a top-level one's name, granted
        "web_services": {"type": "array", "items": {
            "if": {"type": "string"}, "then": _GATEWAY_NAME, "else": WEB_SERVICE_SCHEMA}},
        # each an SMS provider of the tenant's own, or a top-level one's name, granted
        "sms_providers": {"type": "array", "items": {
            "if": {"type": "string"}, "then": _GATEWAY_NAME,
            "else": SMS_PROVIDERS_SCHEMA["items"]}},
        # each a payment link entry of the tenant's own (with its name), or a top-level
        # payment_links name, granted
        "payment_links": {"type": "array", "items": {
            "if": {"type": "string"}, "then": LINK_NAME, "else": NAMED_LINK_SCHEMA}},
        "prompts": PROMPTS_BLOCK,
        "tokens": {"type": "array", "items": _token},
        "agents": _api["agents"],
        "destinations": _api["destinations"]["additionalProperties"],
        "webhook": _api["webhooks"]["additionalProperties"],
    },
}
TENANTS_SCHEMA = {
    "if": {"type": "array"},
    "then": {"uniqueItems": True, "items": _TENANT_NAME},
    "else": {"type": "object", "propertyNames": _TENANT_NAME, "additionalProperties": TENANT_BLOCK},
}

TOP_LEVEL = "(top level)"


def has_blocks(data: Mapping[str, Any]) -> bool:
    """Whether the config gives its tenants blocks of their own (the mapping shape)."""
    return isinstance(data.get("tenants"), dict)


def tenant_gateways(data: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """``(config key, settings)`` of every gateway the config defines, the top-level ones and
    each tenant's own, in the order written."""
    found = [("gateways[%d]" % index, settings) for index, settings in enumerate(data["gateways"])]
    if has_blocks(data):
        for tenant, block in data["tenants"].items():
            for index, item in enumerate(block.get("gateways") or []):
                if isinstance(item, dict):
                    found.append(("tenants.%s.gateways[%d]" % (tenant, index), item))
    return found


def tenant_web_services(data: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """``(config key, settings)`` of every web service the config defines, the top-level ones
    and each tenant's own, in the order written."""
    found = [("web_services[%d]" % index, settings)
             for index, settings in enumerate(data.get("web_services") or [])]
    if has_blocks(data):
        for tenant, block in data["tenants"].items():
            for index, item in enumerate(block.get("web_services") or []):
                if isinstance(item, dict):
                    found.append(("tenants.%s.web_services[%d]" % (tenant, index), item))
    return found


def tenant_sms_providers(data: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """``(config key, settings)`` of every SMS provider the config defines, the top-level ones
    and each tenant's own, in the order written."""
    found = [("sms_providers[%d]" % index, settings)
             for index, settings in enumerate(data.get("sms_providers") or [])]
    if has_blocks(data):
        for tenant, block in data["tenants"].items():
            for index, item in enumerate(block.get("sms_providers") or []):
                if isinstance(item, dict):
                    found.append(("tenants.%s.sms_providers[%d]" % (tenant, index), item))
    return found


def tenant_payment_links(data: Mapping[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    """``(config key, settings with its name)`` of every payment link entry the config
    defines, the top-level ones (keyed by name) and each tenant's own, in the order written."""
    found = [("payment_links.%s" % name, dict(settings, name=name))
             for name, settings in (data.get("payment_links") or {}).items()]
    if has_blocks(data):
        for tenant, block in data["tenants"].items():
            for index, item in enumerate(block.get("payment_links") or []):
                if isinstance(item, dict):
                    found.append(("tenants.%s.payment_links[%d]" % (tenant, index), item))
    return found


def flow_directories(data: Mapping[str, Any], top_directory: str) -> List[str]:
    """The folders the flow library loads: the top-level one, then each tenant's own."""
    folders = [top_directory]
    if has_blocks(data):
        folders += [block["flows"]["directory"] for block in data["tenants"].values()
                    if block["flows"]["directory"] is not None]
    return folders


def normalise(data: Dict[str, Any], base_dir: str) -> Tuple[List[str], List[str]]:
    """Check the tenants' blocks against the rest of the config and write them into the one
    shape the service reads; ``(problems, notices)``, each a ``key: message`` line. ``data``
    is schema-valid with defaults merged; with problems, it is not to be used."""
    tenants = data["tenants"]
    if not isinstance(tenants, dict):
        notices = []
        if tenants:
            notices.append("tenants: a list, so %s share every flow, gateway and prompt catalog "
                           "of this config; give each tenant a block of its own to keep them "
                           "apart (README: Running several tenants)" % ", ".join(tenants))
        return [], notices
    blocks = {name: dict(block or {}) for name, block in tenants.items()}
    for block in blocks.values():
        block["flows"] = _flows_block(block.get("flows"))
    data["tenants"] = blocks
    problems = _moved_out_of_agent_api(data["agent_api"], blocks)
    problems += _unique_tokens(data["agent_api"], blocks)
    problems += _unique_gateways(data, blocks)
    problems += _unique_web_services(data, blocks)
    problems += _unique_named(blocks, tenant_sms_providers(data), "sms_providers", "SMS provider",
                              {item["name"] for item in data.get("sms_providers") or []})
    problems += _unique_named(blocks, tenant_payment_links(data), "payment_links", "payment link",
                              set(data.get("payment_links") or {}))
    problems += _own_folders(data, blocks, base_dir)
    problems += _patterns(blocks)
    if problems:
        return problems, []
    _resolve_paths(blocks, base_dir)
    _into_agent_api(data, blocks)
    return [], []


def _flows_block(value: Any) -> Dict[str, Any]:
    if isinstance(value, str):
        value = {"directory": value}
    elif isinstance(value, list):
        value = {"names": value}
    block = dict(value or {})
    block.setdefault("names", [])
    block.setdefault("default", None)
    block.setdefault("by_destination", {})
    block.setdefault("directory", None)
    return block


def _moved_out_of_agent_api(api: Mapping[str, Any], blocks: Mapping[str, Any]) -> List[str]:
    """What a list-shaped config kept under ``agent_api`` for a tenant that now has a block."""
    problems = []
    for index, entry in enumerate(api["tokens"]):
        tenant = entry.get("tenant")
        if tenant in blocks:
            problems.append("agent_api.tokens[%d].tenant: %s has a block under tenants: move "
                            "this token to tenants.%s.tokens (without tenant)"
                            % (index, tenant, tenant))
    for section, target in (("destinations", "destinations"), ("webhooks", "webhook")):
        for tenant in api[section]:
            if tenant in blocks:
                problems.append("agent_api.%s.%s: %s has a block under tenants: move this to "
                                "tenants.%s.%s" % (section, tenant, tenant, tenant, target))
    return problems


def _unique_tokens(api: Mapping[str, Any], blocks: Mapping[str, Any]) -> List[str]:
    """Each token once across ``agent_api.tokens`` and every block: with two principals on
    one token, one would get the other's rights."""
    seen: Dict[str, str] = {}
    problems = []
    keyed = [("agent_api.tokens[%d]" % i, entry) for i, entry in enumerate(api["tokens"])]
    for tenant, block in blocks.items():
        keyed += [("tenants.%s.tokens[%d]" % (tenant, i), entry)
                  for i, entry in enumerate(block.get("tokens") or [])]
    for key, entry in keyed:
        if entry["token"] in seen:
            problems.append("%s.token: the same token as %s; each token must be unique"
                            % (key, seen[entry["token"]]))
        seen.setdefault(entry["token"], key)
    return problems


def _unique_gateways(data: Mapping[str, Any], blocks: Mapping[str, Any]) -> List[str]:
    """Gateway names unique across the config; a granted name names a top-level gateway."""
    problems = []
    first: Dict[str, str] = {}
    for key, settings in tenant_gateways(data):
        name = settings["name"]
        if name in first:
            problems.append("%s.name: %s is also the name of %s; gateway names are unique "
                            "across the config (a payment record names its gateway)"
                            % (key, name, first[name]))
        first.setdefault(name, key)
    top = {settings["name"] for settings in data["gateways"]}
    for tenant, block in blocks.items():
        for index, item in enumerate(block.get("gateways") or []):
            if isinstance(item, str) and item not in top:
                problems.append("tenants.%s.gateways[%d]: no gateway %s under the top-level "
                                "gateways (known: %s); a tenant is granted only those, or "
                                "defines its own here" % (tenant, index, item,
                                                          ", ".join(sorted(top)) or "none"))
    return problems


def _unique_web_services(data: Mapping[str, Any], blocks: Mapping[str, Any]) -> List[str]:
    """Web service names unique across the config; a granted name names a top-level one."""
    problems = []
    first: Dict[str, str] = {}
    for key, settings in tenant_web_services(data):
        name = settings["name"]
        if name in first:
            problems.append("%s.name: %s is also the name of %s; web service names are unique "
                            "across the config" % (key, name, first[name]))
        first.setdefault(name, key)
    top = {settings["name"] for settings in data.get("web_services") or []}
    for tenant, block in blocks.items():
        for index, item in enumerate(block.get("web_services") or []):
            if isinstance(item, str) and item not in top:
                problems.append("tenants.%s.web_services[%d]: no web service %s under the "
                                "top-level web_services (known: %s)"
                                % (tenant, index, item, ", ".join(sorted(top)) or "none"))
    return problems


def _unique_named(blocks: Mapping[str, Any], defined: List[Tuple[str, Dict[str, Any]]],
                  section: str, what: str, top: Set[str]) -> List[str]:
    """Names of ``section`` unique across the config (a tenant's SMS provider or payment link
    is found by its name, a link's webhook by its path); a granted name names a top-level one."""
    problems = []
    first: Dict[str, str] = {}
    for key, settings in defined:
        name = settings["name"]
        if name in first:
            problems.append("%s.name: %s is also the name of %s; %s names are unique across "
                            "the config" % (key, name, first[name], what))
        first.setdefault(name, key)
    for tenant, block in blocks.items():
        for index, item in enumerate(block.get(section) or []):
            if isinstance(item, str) and item not in top:
                problems.append("tenants.%s.%s[%d]: no %s %s under the top-level %s (known: "
                                "%s); a tenant is granted only those, or defines its own here"
                                % (tenant, section, index, what, item, section,
                                   ", ".join(sorted(top)) or "none"))
    return problems


def _own_folders(data: Mapping[str, Any], blocks: Mapping[str, Any], base_dir: str) -> List[str]:
    """A tenant's flow folder is its own: not the top-level one, not another tenant's."""
    problems = []
    owner = {_absolute(base_dir, data["flows"]["directory"]): "flows.directory"}
    for tenant, block in blocks.items():
        directory = block["flows"]["directory"]
        if directory is None:
            continue
        path, key = _absolute(base_dir, directory), "tenants.%s.flows.directory" % tenant
        if path in owner:
            problems.append("%s: %s is also %s; each tenant's flows have a folder of their own"
                            % (key, path, owner[path]))
        owner.setdefault(path, key)
    return problems


def _patterns(blocks: Mapping[str, Any]) -> List[str]:
    problems = []
    for tenant, block in blocks.items():
        for index, rule in enumerate(block.get("destinations") or []):
            if "pattern" in rule:
                try:
                    re.compile(rule["pattern"])
                except re.error as exc:
                    problems.append("tenants.%s.destinations[%d].pattern: not a regular "
                                    "expression: %s" % (tenant, index, exc))
    return problems


def _absolute(base_dir: str, path: str) -> str:
    return os.path.normpath(os.path.join(base_dir, path))


def _resolve_paths(blocks: Mapping[str, Dict[str, Any]], base_dir: str) -> None:
    """Relative to the config file, as the top-level paths are."""
    for block in blocks.values():
        if block["flows"]["directory"] is not None:
            block["flows"]["directory"] = _absolute(base_dir, block["flows"]["directory"])
        prompts = block.get("prompts") or {}
        if prompts.get("catalog_dir"):
            block["prompts"] = dict(prompts, catalog_dir=_absolute(base_dir, prompts["catalog_dir"]))


def _into_agent_api(data: Dict[str, Any], blocks: Mapping[str, Mapping[str, Any]]) -> None:
    """The blocks' tokens, destinations, webhooks and agents, where the agent API reads them
    (new lists and maps: the defaults' own must stay as they are)."""
    api = dict(data["agent_api"])
    api["tokens"] = list(api["tokens"])
    api["destinations"] = dict(api["destinations"])
    api["webhooks"] = dict(api["webhooks"])
    api["agents_by_tenant"] = {}
    for tenant, block in blocks.items():
        api["tokens"] += [dict(entry, tenant=tenant) for entry in block.get("tokens") or []]
        if "destinations" in block:
            api["destinations"][tenant] = block["destinations"]
        if "webhook" in block:
            api["webhooks"][tenant] = block["webhook"]
        api["agents_by_tenant"][tenant] = dict(block.get("agents") or {})
    data["agent_api"] = api
