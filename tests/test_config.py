from dataclasses import asdict

import pytest
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.engine import EngineSettings
from orchestrator.engine.services import PromptSettings
from orchestrator.esl.protocol import FrameLimits
from orchestrator.http_limits import HttpLimits


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_without_a_file():
    config = load_config(None, environ={})
    assert config["max_calls"] == 100
    assert config["listen"] == {"host": "127.0.0.1", "port": 8084}
    assert config["timeouts"]["reply"] == 5.0


def test_partial_sections_keep_their_other_defaults(tmp_path):
    config = load_config(write(tmp_path, "timeouts: {reply: 2}\n"), environ={})
    assert config["timeouts"]["reply"] == 2
    assert config["timeouts"]["app"] == 300.0


def test_password_comes_from_the_environment(tmp_path):
    path = write(tmp_path, "nodes:\n  - {name: fs1, host: 127.0.0.1, password: '${env:FS1_PW}'}\n")
    config = load_config(path, environ={"FS1_PW": "s3cret"})
    assert config["nodes"][0]["password"] == "s3cret"


def test_missing_environment_variable_names_the_key(tmp_path):
    path = write(tmp_path, "nodes:\n  - {name: fs1, host: 127.0.0.1, password: '${env:FS1_PW}'}\n")
    with pytest.raises(ConfigError, match=r"nodes\.0\.password: environment variable FS1_PW is not set"):
        load_config(path, environ={})


def test_environment_default_is_used(tmp_path):
    path = write(tmp_path, "listen: {host: '${env:LISTEN_HOST:-0.0.0.0}'}\n")
    assert load_config(path, environ={})["listen"]["host"] == "0.0.0.0"


def test_override_variable_replaces_a_scalar(tmp_path):
    path = write(tmp_path, "max_calls: 10\n")
    config = load_config(path, environ={"ORCHESTRATOR__MAX_CALLS": "3",
                                        "ORCHESTRATOR__LISTEN__PORT": "9000"})
    assert config["max_calls"] == 3
    assert config["listen"]["port"] == 9000


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.yaml: max_calls: 'many' is not of type 'integer'"):
        load_config(write(tmp_path, "max_calls: many\n"), environ={})


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"\(top level\): Additional properties are not allowed \('max_cals'"):
        load_config(write(tmp_path, "max_cals: 3\n"), environ={})


def test_missing_node_password_names_the_node_entry(tmp_path):
    with pytest.raises(ConfigError, match=r"nodes\.0: 'password' is a required property"):
        load_config(write(tmp_path, "nodes: [{name: a, host: h}]\n"), environ={})


def test_duplicate_node_names_are_refused(tmp_path):
    text = "nodes: [{name: a, host: h, password: p}, {name: a, host: i, password: p}]\n"
    with pytest.raises(ConfigError, match="duplicate node name a"):
        load_config(write(tmp_path, text), environ={})


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "absent.yaml"), environ={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "max_calls: [\n"), environ={})


def test_shipped_example_config_loads():
    config = load_config("examples/orchestrator.example.yaml", environ={"FS_ESL_PASSWORD": "x"})
    assert config["nodes"][0]["password"] == "x"


def test_http_and_tenants_have_defaults_and_are_checked(tmp_path):
    config = load_config(None, environ={})
    assert config["http"] == {"enabled": True, "host": "127.0.0.1", "port": 8080,
                              **asdict(HttpLimits())}
    assert config["tenants"] == []
    assert load_config(write(tmp_path, "http: {port: 0}\ntenants: [acme, b.2]\n"),
                       environ={})["http"]["host"] == "127.0.0.1"
    with pytest.raises(ConfigError, match=r"tenants\.0"):
        load_config(write(tmp_path, "tenants: ['bad name']\n"), environ={})
    with pytest.raises(ConfigError, match=r"tenants\.0"):
        load_config(write(tmp_path, "tenants: [unknown]\n"), environ={})  # reserved names
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_config(write(tmp_path, "http: {port: 99999}\n"), environ={})


def test_the_step_limit_is_a_count_under_limits_with_the_engines_default():
    config = load_config(None, environ={})
    assert config["limits"] == {"max_step_runs": EngineSettings().max_step_runs,
                                "esl": asdict(FrameLimits())}
    assert "max_step_runs" not in config["timeouts"]
    assert config.deprecations == []


def test_the_step_limit_under_timeouts_still_loads_with_a_notice_naming_the_new_key(tmp_path):
    config = load_config(write(tmp_path, "timeouts: {reply: 2, max_step_runs: 40}\n"), environ={})
    assert config["limits"]["max_step_runs"] == 40
    assert config["timeouts"]["reply"] == 2 and "max_step_runs" not in config["timeouts"]
    assert config.deprecations == [
        "%s: timeouts.max_step_runs is deprecated: write it as limits.max_step_runs" % config.source]


def test_the_step_limit_in_both_places_is_refused(tmp_path):
    text = "timeouts: {max_step_runs: 40}\nlimits: {max_step_runs: 50}\n"
    with pytest.raises(ConfigError, match=r"timeouts\.max_step_runs: moved to limits\.max_step_runs, "
                                          r"which is also set; keep only limits\.max_step_runs"):
        load_config(write(tmp_path, text), environ={})


def test_the_step_limit_must_be_a_whole_number(tmp_path):
    with pytest.raises(ConfigError, match=r"limits\.max_step_runs: 2\.5 is not of type 'integer'"):
        load_config(write(tmp_path, "limits: {max_step_runs: 2.5}\n"), environ={})


def test_tts_and_prompt_defaults_are_the_engines():
    config = load_config(None, environ={})
    settings = EngineSettings()
    assert config["tts"] == {"engine": settings.tts_engine, "voice": settings.tts_voice}
    assert config["prompts"] == asdict(PromptSettings())


def test_relative_paths_are_relative_to_the_config_file_not_to_where_it_is_started(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    path = write(folder, "flows: {directory: flows}\nstore: {path: data/payments.sqlite}\n"
                         "prompts: {catalog_dir: catalogs, audio_dir: prompts}\n"
                         "secure_entry: {script: scripts/pay_secure.lua, fifo_dir: ../fifos}\n")
    monkeypatch.chdir(tmp_path)          # anywhere but the config's folder
    config = load_config(path, environ={})
    assert config["flows"]["directory"] == str(folder / "flows")
    assert config.flows_directory == str(folder / "flows")
    assert config["store"]["path"] == str(folder / "data" / "payments.sqlite")
    assert config["prompts"]["catalog_dir"] == str(folder / "catalogs")
    assert config["secure_entry"] == {"script": str(folder / "scripts" / "pay_secure.lua"),
                                      "fifo_dir": str(tmp_path / "fifos")}
    assert config["prompts"]["audio_dir"] == "prompts"   # the switch's folder: as written


def test_paths_that_name_no_file_here_are_kept_as_written(tmp_path):
    config = load_config(write(tmp_path, "store: {path: ':memory:'}\n"
                                         "secure_entry: {script: pay_secure.lua}\n"), environ={})
    assert config["store"]["path"] == ":memory:"
    assert config["secure_entry"] == {"script": "pay_secure.lua", "fifo_dir": ""}  # switch's folder; temp
    assert config["prompts"]["catalog_dir"] is None                                # the shipped catalogs
    absolute = load_config(write(tmp_path, "store: {path: /var/lib/payivr/p.sqlite}\n"), environ={})
    assert absolute["store"]["path"] == "/var/lib/payivr/p.sqlite"


def test_a_path_given_by_override_is_relative_to_the_config_file_too(tmp_path):
    config = load_config(write(tmp_path, "{}\n"),
                         environ={"ORCHESTRATOR__STORE__PATH": "var/p.sqlite"})
    assert config["store"]["path"] == str(tmp_path / "var" / "p.sqlite")


def test_each_limit_has_a_default_and_one_key_set_keeps_the_others(tmp_path):
    config = load_config(write(tmp_path, "limits: {esl: {max_header_lines: 300}}\n"
                                         "http: {header_timeout: 2.5}\n"), environ={})
    assert config["limits"]["esl"] == dict(asdict(FrameLimits()), max_header_lines=300)
    assert config["limits"]["max_step_runs"] == EngineSettings().max_step_runs
    assert config["http"]["header_timeout"] == 2.5
    assert config["http"]["max_connections"] == HttpLimits().max_connections
    assert config["http"]["port"] == 8080
    overridden = load_config(None, environ={"ORCHESTRATOR__LIMITS__ESL__MAX_BODY_BYTES": "65536",
                                            "ORCHESTRATOR__HTTP__MAX_CONNECTIONS": "50"})
    assert overridden["limits"]["esl"]["max_body_bytes"] == 65536
    assert overridden["http"]["max_connections"] == 50


@pytest.mark.parametrize("text, key", [
    ("limits: {esl: {max_header_lines: 0}}", r"limits\.esl\.max_header_lines"),
    ("limits: {esl: {max_body_bytes: 10}}", r"limits\.esl\.max_body_bytes"),
    ("limits: {esl: {max_headers: 10}}", r"limits\.esl"),
    ("http: {max_connections: 0}", r"http\.max_connections"),
    ("http: {header_timeout: 0}", r"http\.header_timeout"),
    ("http: {idle_timeout: -1}", r"http\.idle_timeout"),
    ("http: {max_body_bytes: 100000000}", r"http\.max_body_bytes"),
    ("agent_api: {webhooks: {acme: {url: 'https://h.test/', secret: 0123456789abcdef0, "
     "queue_size: 0}}}", r"agent_api\.webhooks\.acme\.queue_size"),
    ("agent_api: {webhooks: {acme: {url: 'https://h.test/', secret: 0123456789abcdef0, "
     "workers: 100}}}", r"agent_api\.webhooks\.acme\.workers"),
])
def test_a_bad_limit_stops_start_up_naming_its_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, text + "\n"), environ={})


def test_the_store_takes_a_postgresql_url_with_its_password_from_the_environment(tmp_path):
    path = tmp_path / "orchestrator.yaml"
    path.write_text("store:\n  url: postgresql://payivr:${env:DB_PASSWORD}@db:5432/payivr\n"
                    "  password: ${env:DB_PASSWORD}\n  pool_size: 8\n  timeout: 2.5\n")
    config = load_config(str(path), environ={"DB_PASSWORD": "p@ss/word"})
    store = config["store"]
    assert store["url"] == "postgresql://payivr:p@ss/word@db:5432/payivr"
    assert (store["password"], store["pool_size"], store["timeout"], store["retries"]) == \
        ("p@ss/word", 8, 2.5, 3)
    assert load_config(None)["store"]["url"] == ""


@pytest.mark.parametrize("store, message", [
    ({"url": "mysql://db/payivr"}, "store.url: 'mysql://db/payivr' does not match"),
    ({"url": "postgresql://u@db/p", "pool_size": 0}, "store.pool_size: 0 is less than"),
    ({"url": "postgresql://u@db/p", "retries": 11}, "store.retries: 11 is greater than"),
    ({"url": "postgresql://u@db/p", "timeout": 0}, "store.timeout: 0 is less than or equal"),
])
def test_a_bad_store_setting_is_refused_naming_the_key(tmp_path, store, message):
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump({"store": store}))
    with pytest.raises(ConfigError, match=message):
        load_config(str(path), environ={})


def test_a_cluster_heartbeat_slower_than_its_dead_after_is_refused(tmp_path):
    path = tmp_path / "orchestrator.yaml"
    path.write_text("cluster: {heartbeat_interval: 5, dead_after: 5}\n")
    with pytest.raises(ConfigError, match=r"cluster.dead_after \(5\) must be longer than "
                                          r"cluster.heartbeat_interval \(5\)"):
        load_config(str(path), environ={})
    path.write_text("cluster: {name: 'a b'}\n")
    with pytest.raises(ConfigError, match="cluster.name"):
        load_config(str(path), environ={})
