"""``GET /api/v1/languages``: what the panel offers for the caller's language, per tenant:
the catalogs its calls read (a folder of its own, or the shipped ones), limited to its
``prompts.languages`` when it lists them; a session started with one speaks it."""
import shutil

import pytest

from orchestrator.catalog import HERE as SHIPPED
from tests.support.agent import Rig
from tests.support.tenants import agent_rig_in_blocks


@pytest.fixture
def rig(tmp_path):
    folder = tmp_path / "globex-catalogs"
    folder.mkdir()
    shutil.copy(SHIPPED + "/en.yaml", str(folder / "en.yaml"))
    text = open(SHIPPED + "/es.yaml", encoding="utf-8").read()
    (folder / "ca.yaml").write_text(text.replace("name: Español", "name: Català")
                                    .replace("language: es", "language: ca"), encoding="utf-8")
    blocks = agent_rig_in_blocks(tmp_path / "globex-flows")

    def configure(config):
        blocks(config)
        config["tenants"]["acme"]["prompts"] = {"languages": ["en", "ru"]}
        config["tenants"]["globex"]["prompts"] = {"catalog_dir": str(folder)}
    rig = Rig(tmp_path, configure=configure)
    yield rig
    rig.stop()


def test_each_tenant_is_offered_its_own_catalogs_by_their_own_names(rig):
    acme = rig.request("GET", "/languages", who="alice")
    assert acme.status_code == 200
    assert acme.json() == {"languages": [{"code": "en", "name": "English"},
                                         {"code": "ru", "name": "Русский"}]}
    globex = rig.request("GET", "/languages", who="other")
    assert globex.json() == {"languages": [{"code": "ca", "name": "Català"},
                                           {"code": "en", "name": "English"}]}


def test_no_token_no_languages(rig):
    assert rig.request("GET", "/languages", token="").status_code == 401


def test_a_session_started_in_a_language_is_spoken_in_it(rig):
    call, _ = rig.call([{"silence": 60}])
    started = rig.start_payment(call.uuid, language="ru")
    assert started.status_code == 201, started.text
    rig.wait_state(started.json()["id"], "collecting")
    assert call.channel.variables.get("pay_language") == "ru"
    call.hangup()
