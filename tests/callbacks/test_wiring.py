"""The service builds its status callbacks from the config as it loads receivers today: a
tenant block's ``webhook`` (or the older ``agent_api.webhooks``), new keys checked, with or
without the agent API; a bad value is a clear config error naming the key."""
import pytest
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.service import Service

SECRET = "callback-secret-0123456789"


def service_for(tmp_path, data):
    (tmp_path / "flows").mkdir(exist_ok=True)
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(dict({"flows": {"directory": "flows"},
                                         "http": {"enabled": False},
                                         "store": {"path": "payments.sqlite"}}, **data)))
    return Service(load_config(str(path), environ={}))


def test_a_tenant_blocks_webhook_is_its_lane_with_its_settings(tmp_path):
    service = service_for(tmp_path, {"tenants": {"acme": {"webhook": {
        "url": "http://127.0.0.1:9/cb", "secret": SECRET, "max_age": 3600, "queue_size": 50,
        "backoff_base": 0.1, "backoff_cap": 30, "max_body": 4096}}, "globex": None}})
    assert service.agent is None                         # no agent API: the IVR's own callbacks
    [tenant] = service.callbacks.sender.lanes
    receiver = service.callbacks.sender.lanes[tenant].receiver
    assert tenant == "acme"
    assert (receiver.max_age, receiver.queue_size, receiver.backoff_base, receiver.backoff_cap,
            receiver.max_body, receiver.timeout, receiver.max_attempts) == (
        3600, 50, 0.1, 30, 4096, 5.0, None)
    assert service.callbacks.writer.on_outcome in service.store.outcome_hooks


def test_the_older_agent_api_webhooks_still_configure_the_receivers(tmp_path):
    service = service_for(tmp_path, {"tenants": ["acme"], "agent_api": {"webhooks": {
        "acme": {"url": "http://127.0.0.1:9/cb", "secret": SECRET, "max_attempts": 6}}}})
    assert service.callbacks.sender.lanes["acme"].receiver.max_attempts == 6


def test_without_a_receiver_nothing_is_built(tmp_path):
    service = service_for(tmp_path, {"tenants": ["acme"]})
    assert service.callbacks is None and service.store.outcome_hooks == []


@pytest.mark.parametrize("key,value", [("max_body", 100), ("max_age", 0), ("backoff_cap", -1),
                                       ("timeout", 120), ("queue_size", 0)])
def test_a_bad_receiver_setting_is_a_config_error_naming_it(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        service_for(tmp_path, {"tenants": {"acme": {"webhook": {
            "url": "http://127.0.0.1:9/cb", "secret": SECRET, key: value}}}})
