"""The simulator's dialplan after a ``socket`` (simulator/dialplan.py): XML read in with its
globals, a refused socket going on to the next action, and a transfer loop cut off."""
from bench.service_process import free_port
from orchestrator.simulator.dialplan import MAX_TRANSFERS, extensions_from_xml
from tests.support.switch import start_switch

XML = """<include><context name="x">
  <extension name="first"><condition field="destination_number" expression="^first$">
    <action application="set" data="socket_resume=true"/>
    <action application="socket" data="$${where} async full"/>
    <action application="transfer" data="${next} XML x"/>
  </condition></extension>
  <extension name="by_pattern"><condition field="destination_number" expression="^pay_(\\w+)$">
    <action application="hangup"/>
  </condition></extension>
</context></include>"""


def test_extensions_are_read_with_their_globals(tmp_path):
    path = tmp_path / "plan.xml"
    path.write_text(XML)
    found = extensions_from_xml([str(path)], {"where": "127.0.0.1:9"})
    assert found == {"first": [("set", "socket_resume=true"), ("socket", "127.0.0.1:9 async full"),
                               ("transfer", "${next} XML x")]}     # a pattern is not a name


def test_a_refused_socket_goes_on_and_a_transfer_loop_is_cut_off():
    switch = start_switch()
    try:
        dead = "127.0.0.1:%d" % free_port()
        switch.extensions.update({
            "first": [("set", "socket_resume=true"), ("socket", dead + " async full"),
                      ("transfer", "loop XML x")],
            "loop": [("set", "turns=${turns}x"), ("transfer", "loop XML x")]})
        record = switch.place_call_to("first").wait(timeout=10)
        assert record.sockets == [(dead, False)]
        assert record.variables["turns"] == "x" * MAX_TRANSFERS
        assert record.transferred_to == "loop XML x"          # the last one left our view
    finally:
        switch.stop()
