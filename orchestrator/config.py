"""Service configuration: one YAML file, secrets from the environment, checked before start-up.

Secrets (node passwords) should not sit in a file under version control, so any string may be
written ``${env:NAME}`` (or ``${env:NAME:-default}``) and is read from the environment. Any
scalar can also be overridden by ``ORCHESTRATOR__<key>__<key>=value`` (list items by index), for
containers where mounting a file is awkward. A bad config stops start-up with a message that
names the key, at its line and column in the file (``ConfigError.lines``), and for a key the
schema does not know, the closest one it does. Relative paths are relative to the config file, not to wherever the service
happens to be started from (``_LOCAL_PATHS``). The ``tenants`` section (a list of names, or a
block per tenant with its own flows, gateways, web services, SMS providers, payment links,
catalogs, tokens and destinations) is checked and
written into the shape the service reads by ``orchestrator/tenancy/settings.py``.
"""
import os
import re
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import jsonschema
import yaml

from orchestrator.agent.settings import AGENT_API_SCHEMA, config_problems
from orchestrator.call_nodes import UNKNOWN_NODE
from orchestrator.config_positions import positioned, schema_lines
from orchestrator.engine.loader import ConfigYamlLoader, MarkMap, YamlSyntaxError, load_marked
from orchestrator.catalog import AUDIO_MODES
from orchestrator.engine.context import DEFAULT_MAX_STEP_RUNS, DEFAULT_TTS_ENGINE, DEFAULT_TTS_VOICE
from orchestrator.engine.services import PromptSettings
from orchestrator.esl.protocol import FrameLimits
from orchestrator.http_limits import HttpLimits
from orchestrator.logs import FORMATTERS
from orchestrator.payments.gateways import GATEWAYS_SCHEMA
from orchestrator.links.settings import DEFAULT_SWEEP, LINK_EXPIRY_SCHEMA, PAYMENT_LINKS_SCHEMA
from orchestrator.sms import SMS_PROVIDERS_SCHEMA
from orchestrator.webservices import WEB_SERVICES_SCHEMA
from orchestrator.tenancy import TENANTS_SCHEMA, normalise as normalise_tenants

ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
OVERRIDE_PREFIX = "ORCHESTRATOR__"

_number = {"type": "number", "exclusiveMinimum": 0}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "listen": {
            "type": "object", "additionalProperties": False,
            "properties": {"host": {"type": "string"},
                           "port": {"type": "integer", "minimum": 0, "maximum": 65535}},
        },
        "max_calls": {"type": "integer", "minimum": 1},
        "linger_seconds": {"type": "integer", "minimum": 0},
        "timeouts": {
            "type": "object", "additionalProperties": False,
            "properties": {
                **{k: _number for k in ("reply", "app", "answer", "node_connect", "keepalive",
                                        "shutdown_grace")},
                # a count, not a time: read from here only to move it to limits (see _MOVED_KEYS)
                "max_step_runs": {**_number, "deprecated": True},
            },
        },
        "limits": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "max_step_runs": {"type": "integer", "minimum": 1},
                "esl": {
                    "type": "object", "additionalProperties": False,
                    "description": "What one ESL connection (a call's socket or a node's) may "
                                   "send; past a bound the connection is closed",
                    "properties": {
                        "max_header_lines": {"type": "integer", "minimum": 16},
                        "max_header_bytes": {"type": "integer", "minimum": 1024},
                        "max_body_bytes": {"type": "integer", "minimum": 1024},
                        "max_queued_events": {"type": "integer", "minimum": 16},
                    },
                },
            },
        },
        "flows": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "directory": {"type": "string"},
                "names": {"type": ["array", "null"], "uniqueItems": True,
                          "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                          "description": "the flows of the directory this site serves (null: "
                                         "every one); the others are still read and checked"},
                "default": {"type": ["string", "null"]},
                "by_destination": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "tts": {
            "type": "object", "additionalProperties": False,
            "properties": {"engine": {"type": "string"}, "voice": {"type": "string"}},
        },
        "nodes": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "host", "password"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                    "host": {"type": "string"},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "password": {"type": "string", "minLength": 1},
                },
            },
        },
        "min_nodes_up": {
            "type": "integer", "minimum": 0,
            "description": "How many of the nodes must have their inbound connection up for "
                           "/readyz to say ready (at most the number of nodes; 0: never "
                           "wait for a node)",
        },
        "http": {
            "type": "object", "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}, "host": {"type": "string"},
                           "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                           "max_connections": {"type": "integer", "minimum": 1},
                           "header_timeout": _number, "idle_timeout": _number,
                           "body_timeout": _number,
                           "max_header_bytes": {"type": "integer", "minimum": 1024,
                                                "maximum": 1024 * 1024},
                           "max_body_bytes": {"type": "integer", "minimum": 1024,
                                              "maximum": 16 * 1024 * 1024}},
        },
        "tenants": TENANTS_SCHEMA,
        "gateways": GATEWAYS_SCHEMA,
        "web_services": WEB_SERVICES_SCHEMA,
        "sms_providers": SMS_PROVIDERS_SCHEMA,
        "payment_links": PAYMENT_LINKS_SCHEMA,
        "link_expiry": LINK_EXPIRY_SCHEMA,
        "agent_api": AGENT_API_SCHEMA,
        "store": {
            "type": "object", "additionalProperties": False,
            "description": "Where payments (and agent sessions) are recorded: an SQLite file "
                           "(path), or PostgreSQL when url names one",
            "properties": {
                "path": {"type": "string", "minLength": 1,
                         "description": "SQLite file for payment records; :memory: in tests"},
                "url": {"type": "string", "pattern": "^(|postgres(ql)?://.*)$",
                        "description": "postgresql://user[:password]@host[:port]/database"
                                       "[?sslmode=...&options=...]: PostgreSQL instead of path"},
                "password": {"type": "string",
                             "description": "the database password, taken as written (not "
                                            "URL-encoded): ${env:NAME} keeps it out of the file"},
                "pool_size": {"type": "integer", "minimum": 1, "maximum": 100},
                "timeout": {**_number, "maximum": 120,
                            "description": "seconds a statement or a free connection is "
                                           "waited for"},
                "retries": {"type": "integer", "minimum": 1, "maximum": 10,
                            "description": "attempts at a transaction whose connection is lost"},
                "check_interval": {**_number,
                                   "description": "seconds between the monitor's pings"},
            },
        },
        "cluster": {
            "type": "object", "additionalProperties": False,
            "description": "Several instances on one PostgreSQL store (orchestrator/cluster): "
                           "heartbeats, forwarded agent requests, the takeover of a dead one",
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{0,40}$",
                         "description": "how this instance is named among the others (with "
                                        "its process id and a random tag); the host's name "
                                        "by default"},
                "heartbeat_interval": {**_number, "maximum": 60,
                                       "description": "seconds between this instance's beats"},
                "dead_after": {**_number, "maximum": 600,
                               "description": "seconds of silence after which an instance is "
                                              "dead and taken over (longer than the interval)"},
                "request_timeout": {**_number, "maximum": 60,
                                    "description": "seconds a forwarded request waits for the "
                                                   "instance holding the call (then 504)"},
                "takeover_retry": {**_number, "maximum": 3600,
                                   "description": "seconds between asks about a dead "
                                                  "instance's payments still unsettled"},
                "advertise": {"type": "string", "pattern": "^([0-9A-Za-z.:\\[\\]-]{1,80})?$",
                              "description": "host:port at which the switches reach this "
                                             "instance's outbound ESL (listen), put on a call "
                                             "with an agent's payment so the payments dialplan "
                                             "brings the caller here; listen's host and port "
                                             "by default"},
            },
        },
        "prompts": {
            "type": "object", "additionalProperties": False,
            "properties": {"catalog_dir": {"type": ["string", "null"]},
                           "audio_dir": {"type": "string"},
                           "audio": {"enum": list(AUDIO_MODES)},
                           "languages": {"type": ["array", "null"], "uniqueItems": True,
                                         "items": {"type": "string",
                                                   "pattern": "^[A-Za-z0-9_-]{1,16}$"},
                                         "description": "the catalogs the default tenant's "
                                                        "flows may speak (null: any)"}},
        },
        "secure_entry": {
            "type": "object", "additionalProperties": False,
            "description": "The switch-side script that reads card and menu keys on payment calls "
                           "(docs/secure-entry.md), and the folder, shared with the switch, of "
                           "its one-time FIFOs.",
            "properties": {"script": {"type": "string", "minLength": 1},
                           "fifo_dir": {"type": "string"}},
        },
        "logging": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info",
                                   "warning", "error"]},
                "format": {"enum": list(FORMATTERS)},
            },
        },
    },
}

DEFAULTS = {
    "listen": {"host": "127.0.0.1", "port": 8084},
    "max_calls": 100,
    "linger_seconds": 10,
    "timeouts": {"reply": 5.0, "app": 300.0, "answer": 10.0, "node_connect": 5.0,
                 "keepalive": 15.0, "shutdown_grace": 30.0},
    "limits": {"max_step_runs": DEFAULT_MAX_STEP_RUNS, "esl": asdict(FrameLimits())},
    "flows": {"directory": "flows", "names": None, "default": None, "by_destination": {}},
    "tts": {"engine": DEFAULT_TTS_ENGINE, "voice": DEFAULT_TTS_VOICE},
    "nodes": [],
    "min_nodes_up": 1,          # ready with one node up, as with a single node
    "http": {"enabled": True, "host": "127.0.0.1", "port": 8080, **asdict(HttpLimits())},
    "tenants": [],
    "gateways": [],
    "web_services": [],
    "sms_providers": [],
    "payment_links": {},
    "link_expiry": {"interval": DEFAULT_SWEEP},
    "agent_api": {"tokens": [], "agents": {}, "destinations": {}, "webhooks": {}, "hold": "music",
                  # audible on any switch; a site with mod_local_stream sets local_stream://moh
                  # (without that module a local_stream plays silence: seen on 1.10.12)
                  "hold_music": "tone_stream://%(300,4700,440);loops=-1",
                  "charge_timeout": 180, "charge_answer_wait": 60},
    "store": {"path": "payments.sqlite", "url": "", "password": "", "pool_size": 4,
              "timeout": 5.0, "retries": 3, "check_interval": 5.0},
    "cluster": {"name": "", "heartbeat_interval": 2.0, "dead_after": 10.0, "request_timeout": 5.0,
                "takeover_retry": 30.0, "advertise": ""},
    "prompts": asdict(PromptSettings()),   # and languages, when set (orchestrator/tenancy)
    # the script as the switch finds it: a name in its scripts folder, an absolute path, or a
    # path relative to the config file (see _LOCAL_PATHS)
    "secure_entry": {"script": "pay_secure.lua", "fifo_dir": ""},
    "logging": {"level": "INFO", "format": "logfmt"},
}


# Paths the service opens itself, each ``(section, key, values that name no file)``: a relative
# one is relative to the config file's folder, so one config works wherever the service is
# started from (a copy at the repository root, /etc/payivr in a container). ``prompts.audio_dir``
# is the switch's and stays as written; ``secure_entry.script`` is the switch's too, but the
# switch shares this host (its FIFOs are local files): a bare name is looked up in FreeSWITCH's
# scripts folder, a relative path with a folder in it is taken from the config file's folder.
_LOCAL_PATHS = (("flows", "directory", ()), ("store", "path", (":memory:",)),
                ("prompts", "catalog_dir", (None, "")), ("secure_entry", "fifo_dir", ("",)))


# Keys that moved: (old section, key) -> new section. A config with the old key still loads,
# with a notice in ``Config.deprecations``; one with both is refused, since they could disagree.
_MOVED_KEYS = {("timeouts", "max_step_runs"): "limits"}


class ConfigError(Exception):
    """Names the file and the key that is wrong: each line ``<file>: <key>: <message>``.

    ``lines()`` gives them as ``<file>:<line>:<column>: <key>: <message>`` when the file's
    marks are known (``load_config`` keeps them; ``located`` adds them to an error raised
    later, by the service, from a loaded ``Config``)."""

    def __init__(self, message, places=None):
        super().__init__(message)
        self.places = dict(places or {})    # line -> the node it is about (config_positions)
        self.source = None
        self.marks = None

    def located(self, source, marks):
        """This error, knowing the file it is about; returns itself."""
        if self.marks is None:
            self.source, self.marks = source, marks
        return self

    def lines(self):
        return positioned(str(self).splitlines(), self.source, self.marks, self.places)


@dataclass
class Config:
    data: dict
    source: str
    base_dir: str
    deprecations: List[str] = field(default_factory=list)  # logged by `run` and `reconcile`
    marks: Optional[MarkMap] = field(default=None, repr=False)   # where each key is written

    def error_lines(self, error):
        """A ``ConfigError`` about this config, each line at its file:line:column."""
        return error.located(self.source, self.marks).lines()

    def __getitem__(self, key):
        return self.data[key]

    @property
    def flows_directory(self):
        """Absolute once loaded; joined for a config whose data a caller replaced."""
        return os.path.join(self.base_dir, self.data["flows"]["directory"])


def _key_path(path):
    return ".".join(str(p) for p in path) or "(top level)"


def _resolve_env(value, path, environ):
    if isinstance(value, dict):
        return {k: _resolve_env(v, path + [k], environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, path + [i], environ) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match):
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError("%s: environment variable %s is not set" % (_key_path(path), name))

    return ENV_REFERENCE.sub(substitute, value)


def _apply_overrides(data, environ):
    for name, raw in sorted(environ.items()):
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        keys = [k.lower() for k in name[len(OVERRIDE_PREFIX):].split("__")]
        target = data
        for key in keys[:-1]:
            if isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            elif isinstance(target, dict):
                target = target.setdefault(key, {})
            else:
                raise ConfigError("%s: no such key to override" % name)
        value = yaml.safe_load(raw) if raw.strip() else raw
        if isinstance(target, list):
            raise ConfigError("%s: cannot replace a whole list item" % name)
        target[keys[-1]] = value


def _merge_defaults(data, defaults=None):
    """``data`` over ``defaults``, section by section at every depth (``limits.esl``)."""
    defaults = DEFAULTS if defaults is None else defaults
    merged = {}
    for key, default in defaults.items():
        value = data.get(key, default)
        if isinstance(default, dict) and isinstance(value, dict):
            value = _merge_defaults(value, default)
        merged[key] = value
    for key, value in data.items():
        merged.setdefault(key, value)
    return merged


def _move_keys(data, source):
    """Move each key of ``_MOVED_KEYS`` to its new section; the notices for what was moved."""
    notices = []
    for (old_section, key), new_section in _MOVED_KEYS.items():
        if key not in data.get(old_section, {}):
            continue
        old, new = "%s.%s" % (old_section, key), "%s.%s" % (new_section, key)
        if key in data.get(new_section, {}):
            raise ConfigError("%s: %s: moved to %s, which is also set; keep only %s"
                              % (source, old, new, new))
        value = data[old_section].pop(key)
        data.setdefault(new_section, {})[key] = int(value)
        notices.append("%s: %s is deprecated: write it as %s" % (source, old, new))
    return notices


def _resolve_paths(data, base_dir):
    """Make the local paths of ``data`` absolute, from ``base_dir`` (see ``_LOCAL_PATHS``)."""
    for section, key, not_paths in _LOCAL_PATHS:
        value = data[section].get(key)
        if value not in not_paths:
            data[section][key] = os.path.normpath(os.path.join(base_dir, value))
    script = data["secure_entry"]["script"]
    if "/" in script and not os.path.isabs(script):
        data["secure_entry"]["script"] = os.path.normpath(os.path.join(base_dir, script))


def load_config(path=None, environ=None):
    """Read, resolve and check the config; ``path=None`` gives the defaults. A ``ConfigError``
    names every problem, each at its line and column in the file (``ConfigError.lines``)."""
    environ = os.environ if environ is None else environ
    source = path or "(defaults)"
    raw, marks = {}, None
    if path:
        raw, marks = _read(path)
    try:
        return _checked(raw, source, path, environ, marks)
    except ConfigError as exc:
        raise exc.located(source, marks)


def _read(path):
    """The file's data and marks; a ConfigError at the position of bad YAML or of a key
    written twice (PyYAML would keep the last silently)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("%s: cannot read: %s" % (path, exc.strerror))
    except UnicodeDecodeError as exc:
        raise ConfigError("%s: not valid YAML: not UTF-8 text (%s)" % (path, exc.reason))
    try:
        loaded = load_marked(text, ConfigYamlLoader)
    except YamlSyntaxError as exc:
        line = "%s: not valid YAML: %s" % (path, exc.message)
        raise ConfigError(line, {line: exc.position}).located(path, MarkMap())
    if loaded.duplicate_keys:
        lines = ["%s: %s: written twice (first at line %d); remove one"
                 % (path, ".".join(str(p) for p in duplicate.path), duplicate.first.line)
                 for duplicate in loaded.duplicate_keys]
        places = {line: duplicate.position for line, duplicate in zip(lines, loaded.duplicate_keys)}
        raise ConfigError("\n".join(lines), places).located(path, loaded.marks)
    raw = loaded.data if loaded.data is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError("%s: the top level must be a mapping" % path)
    return raw, loaded.marks


def _checked(raw, source, path, environ, marks):
    try:
        data = _resolve_env(raw, [], environ)
        _apply_overrides(data, environ)
    except ConfigError as exc:
        raise ConfigError("%s: %s" % (source, exc))
    validator = jsonschema.Draft7Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines, places = schema_lines(errors, source)
        raise ConfigError("\n".join(lines), places)
    deprecations = _move_keys(data, source)
    data = _merge_defaults(data)
    names = [node["name"] for node in data["nodes"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError("%s: nodes: duplicate node name %s" % (source, ", ".join(duplicates)))
    if UNKNOWN_NODE in names:
        raise ConfigError("%s: nodes: %r is reserved (the metrics' node label for a call from "
                          "a switch no node matches)" % (source, UNKNOWN_NODE))
    if names and data["min_nodes_up"] > len(names):
        raise ConfigError("%s: min_nodes_up: %d, but only %d node(s) are configured: the "
                          "service would never be ready" % (source, data["min_nodes_up"], len(names)))
    cluster = data["cluster"]
    if cluster["dead_after"] <= cluster["heartbeat_interval"]:
        raise ConfigError("%s: cluster.dead_after (%s) must be longer than "
                          "cluster.heartbeat_interval (%s)" % (source, cluster["dead_after"],
                                                               cluster["heartbeat_interval"]))
    base_dir = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    problems, notices = normalise_tenants(data, base_dir)
    if not problems:
        problems = config_problems(data["agent_api"], data["tenants"])
    if problems:
        raise ConfigError("\n".join("%s: %s" % (source, problem) for problem in problems))
    deprecations += ["%s: %s" % (source, notice) for notice in notices]
    _resolve_paths(data, base_dir)
    return Config(data=data, source=source, base_dir=base_dir, deprecations=deprecations,
                  marks=marks)
