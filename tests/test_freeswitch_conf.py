"""The shipped FreeSWITCH configuration says what the service relies on.

Loading it in a real FreeSWITCH is the live suite's job (tests/live); this checks, without a
switch, the properties a careless edit could break.
"""
import glob
import os
import re
import xml.etree.ElementTree as ET

import pytest

from orchestrator.catalog import Catalog
from orchestrator.engine import FlowLibrary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "freeswitch_conf")


def parse(relative):
    return ET.parse(os.path.join(CONF, relative)).getroot()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONF, "**", "*.xml"), recursive=True)))
def test_every_file_is_well_formed_xml(path):
    ET.parse(path)


def test_event_socket_is_loopback_only_with_a_password_of_our_own():
    params = {p.get("name"): p.get("value") for p in parse("autoload_configs/event_socket.conf.xml").iter("param")}
    assert params["listen-ip"] == "127.0.0.1"
    assert params["password"] not in ("", "ClueCon")
    acl_name = params["apply-inbound-acl"]
    acl = [lst for lst in parse("autoload_configs/acl.conf.xml").iter("list") if lst.get("name") == acl_name]
    assert acl and acl[0].get("default") == "deny"
    assert {n.get("cidr") for n in acl[0].iter("node") if n.get("type") == "allow"} <= {"127.0.0.0/8", "::1/128"}


def loaded_modules():
    return {m.get("module") for m in parse("autoload_configs/modules.conf.xml").iter("load")}


def test_needed_modules_are_loaded():
    assert {"mod_event_socket", "mod_commands", "mod_dptools", "mod_dialplan_xml",
            "mod_sndfile", "mod_tone_stream", "mod_say_en", "mod_say_es", "mod_say_ru",
            "mod_flite", "mod_tts_commandline", "mod_lua"} <= loaded_modules()


def languages():
    """language name -> its element, from lang/<lang>/<lang>.xml as freeswitch.xml includes them."""
    includes = [e.get("data") for e in parse("freeswitch.xml").iter("X-PRE-PROCESS")
                if e.get("cmd") == "include" and e.get("data", "").startswith("lang/")]
    assert includes == ["lang/*/*.xml"]
    found = {}
    for path in glob.glob(os.path.join(CONF, "lang", "*", "*.xml")):
        for language in ET.parse(path).getroot().iter("language"):
            assert os.path.basename(path) == language.get("name") + ".xml", path
            found[language.get("name")] = language
    return found


@pytest.mark.parametrize("code", sorted(
    os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "orchestrator", "catalog", "*.yaml"))))
def test_every_shipped_catalog_is_spoken_by_the_shipped_switch(code):
    """say <say_language> finds its language and say module, and speak finds the catalog's engine."""
    catalog = Catalog.load(code)
    language = languages()[catalog.say_language]
    module = language.get("say-module")
    assert module == catalog.say_language and "mod_say_%s" % module in loaded_modules()
    assert language.get("sound-prefix", "").startswith("$${sound_prefix")
    engine = catalog.tts_engine or "flite"      # the service config's default
    assert "mod_%s" % engine in loaded_modules()


def test_the_spanish_and_russian_sound_folders_are_set_from_the_environment():
    text = open(os.path.join(CONF, "vars.xml"), encoding="utf-8").read()
    for language in ("es", "ru"):
        assert 'data="sound_prefix_%s=' % language in text
        assert 'data="sound_prefix_%s=$FS_SOUND_PREFIX_%s"' % (language, language.upper()) in text


def test_the_command_tts_quotes_what_it_is_given():
    [command] = [p.get("value") for p in parse("autoload_configs/tts_commandline.conf.xml").iter("param")
                 if p.get("name") == "command"]
    # the module quotes these three for the shell; nothing else may carry the text
    assert {"${text}", "${voice}", "${file}"} <= set(re.findall(r"\$\{[a-z]+\}", command))
    assert "'" not in command and '"' not in command


def test_the_secure_entry_script_is_shipped_beside_the_configuration():
    script = open(os.path.join(CONF, "scripts", "pay_secure.lua"), encoding="utf-8").read()
    assert 'io.open(fifo, "r+")' in script          # never "w": it blocks, or writes a file
    assert "session:read(" in script and "print(" not in script and "consoleLog" not in script


def socket_extensions():
    for path in glob.glob(os.path.join(CONF, "dialplan", "*.xml")):
        for extension in ET.parse(path).getroot().iter("extension"):
            actions = [(a.get("application"), a.get("data") or "") for a in extension.iter("action")]
            if any(app == "socket" for app, _ in actions):
                yield os.path.basename(path), extension.get("name"), actions


def test_each_socket_hand_off_resumes_into_a_fallback():
    found = list(socket_extensions())
    assert found
    for path, name, actions in found:
        apps = [app for app, _ in actions]
        at = apps.index("socket")
        assert ("set", "socket_resume=true") in actions[:at], (path, name)
        # from the first moment of a payment call no key is an event, a log line or CDR history
        # (docs/secure-entry.md): before the socket, and with the history masked as well
        assert ("set", "sensitive_dtmf=true") in actions[:at], (path, name)
        assert ("set", "digits_dialed_filter=(.+)") in actions[:at], (path, name)
        assert actions[at][1].endswith(" async full"), (path, name)
        after = actions[at + 1:]
        # a card field cut off by the orchestrator's death is cleared before anything else runs
        assert after[:1] == [("unset", "hangup_cause")], (path, name)
        handed_on = [app for app, _ in after[1:]]
        if "intercept" in handed_on:
            # stay mode (pay_agent): the caller's channel is restored before the agent's leg
            # is intercepted back: keys forwarded, audio unmuted, recording resumed
            before = actions[at + 1:at + 1 + handed_on.index("intercept") + 1]
            assert ("unset", "sensitive_dtmf") in before, (path, name)
            assert ("unset", "send_silence_when_idle") in before, (path, name)
            assert any("uuid_audio(${uuid} stop)" in data for _, data in before), (path, name)
            assert ("record_session_resume", "${pay_recording_path}") in before, (path, name)
        elif after[1:] == [("transfer", "${pay_next_instance} XML payments_failover")]:
            # several instances (instances.xml): on to the next one, or to pay_fallback, which
            # hands the caller to a person; where to is set before the socket
            assert any(app == "set" and data.startswith("pay_next_instance=")
                       for app, data in actions[:at]), (path, name)
        else:
            # a person takes the caller: their keys reach them again, then the hand-over
            assert handed_on[:2] in (["unset", "transfer"], ["unset", "bridge"]), (path, name)
            assert after[1] == ("unset", "sensitive_dtmf"), (path, name)


def test_the_failover_tries_each_instance_in_order_then_a_person():
    """7100's chain, followed through pay_next_instance as the switch would: each instance's
    own address, in order, then pay_fallback, which gives the caller to a person."""
    from orchestrator.simulator.dialplan import extensions_from_xml
    extensions = extensions_from_xml(glob.glob(os.path.join(CONF, "dialplan", "*.xml")), {})
    step, addresses = "7100", []
    while step != "pay_fallback":
        actions = extensions[step]
        addresses += [data.split()[0] for app, data in actions if app == "socket"]
        [step] = [data.split("=", 1)[1] for app, data in actions
                  if app == "set" and data.startswith("pay_next_instance=")]
    assert addresses == ["$${orchestrator_esl_address}", "$${orchestrator_esl_address_2}"]
    assert extensions["pay_fallback"] == [("unset", "hangup_cause"), ("unset", "sensitive_dtmf"),
                                          ("transfer", "agent XML default")]
    with open(os.path.join(CONF, "vars.xml"), encoding="utf-8") as handle:
        assert "orchestrator_esl_address_2=$ORCHESTRATOR_ESL_ADDRESS_2" in handle.read()


def test_flows_named_in_the_dialplan_are_shipped():
    library = FlowLibrary.from_directory(os.path.join(ROOT, "flows"))
    named = [data.split("=", 1)[1] for _, _, actions in socket_extensions()
             for app, data in actions if app == "set" and data.startswith("pay_flow=")]
    named = [n for n in named if not n.startswith("$")]
    assert named
    for flow in named:
        assert flow in library
