"""What the live suite adds to its copy of ``freeswitch_conf/``, each a site's own business that
the shipped files leave out: a SIP profile on loopback (mod_sofia), XML CDR files (mod_xml_cdr),
an RTP port range of its own (two switches on one host).

Each helper edits the copy in place and fails loudly when the shipped file no longer has the
line it expects, so the suite never runs on a configuration it did not mean.
"""
import os

SIP_PROFILE = """<configuration name="sofia.conf" description="SIP on loopback for the live suite">
  <global_settings>
    <param name="log-level" value="0"/>
  </global_settings>
  <profiles>
    <profile name="%(name)s">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="rtp-ip" value="127.0.0.1"/>
        <param name="ext-sip-ip" value="127.0.0.1"/>
        <param name="ext-rtp-ip" value="127.0.0.1"/>
        <param name="sip-port" value="%(port)d"/>
        <param name="context" value="%(context)s"/>
        <param name="dialplan" value="XML"/>
        <param name="auth-calls" value="false"/>
        <param name="manage-presence" value="false"/>
        <param name="dtmf-type" value="rfc2833"/>
        <param name="rfc2833-pt" value="101"/>
        <param name="inbound-codec-prefs" value="PCMU"/>
        <param name="outbound-codec-prefs" value="PCMU"/>
        <!-- prompts stall on loopback addresses without it -->
        <param name="rtp-timer-name" value="soft"/>
        <param name="rtp-timeout-sec" value="300"/>
      </settings>
    </profile>
  </profiles>
</configuration>
"""

XML_CDR = """<configuration name="xml_cdr.conf" description="XML CDR files for the live suite">
  <settings>
    <param name="log-dir" value="%(directory)s"/>
    <param name="log-b-leg" value="true"/>
    <param name="prefix-a-leg" value="true"/>
    <param name="encode" value="false"/>
    <param name="disable-100-continue" value="true"/>
  </settings>
</configuration>
"""


def _edit(path, needle, replacement):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if needle not in text:
        raise AssertionError("%s no longer has %r" % (path, needle))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace(needle, replacement, 1))


def load_modules(conf, *modules):
    lines = "".join('    <load module="%s"/>\n' % name for name in modules)
    _edit(os.path.join(conf, "autoload_configs", "modules.conf.xml"), "  </modules>",
          lines + "  </modules>")


def add_sip_profile(conf, name, port, context="default"):
    """mod_sofia with one profile on 127.0.0.1:``port``, RFC 2833 DTMF, PCMU."""
    load_modules(conf, "mod_sofia")
    with open(os.path.join(conf, "autoload_configs", "sofia.conf.xml"), "w", encoding="utf-8") as f:
        f.write(SIP_PROFILE % {"name": name, "port": port, "context": context})


def add_xml_cdr(conf, directory):
    """mod_xml_cdr writing each leg's CDR (a-leg files prefixed ``a_``) into ``directory``."""
    os.makedirs(directory, exist_ok=True)
    load_modules(conf, "mod_xml_cdr")
    with open(os.path.join(conf, "autoload_configs", "xml_cdr.conf.xml"), "w", encoding="utf-8") as f:
        f.write(XML_CDR % {"directory": directory})


def set_rtp_ports(conf, start, end):
    """Another RTP range, for a second switch on the same addresses."""
    path = os.path.join(conf, "autoload_configs", "switch.conf.xml")
    _edit(path, '<param name="rtp-start-port" value="16384"/>',
          '<param name="rtp-start-port" value="%d"/>' % start)
    _edit(path, '<param name="rtp-end-port" value="32768"/>',
          '<param name="rtp-end-port" value="%d"/>' % end)
