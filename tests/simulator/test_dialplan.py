"""The simulator's dialplan after a ``socket`` (simulator/dialplan.py): XML read in with its
globals, a ``continue="true"`` condition on a variable applied to the extensions after it, a
refused socket going on to the next action, a transfer loop cut off, and the simulator's copy
of the shipped payments context agreeing with freeswitch_conf/dialplan/payments.xml."""
import os

from bench.service_process import free_port
from orchestrator.simulator.dialplan import (MAX_TRANSFERS, Condition, extensions_from_xml,
                                             routed)
from orchestrator.simulator.eavesdrop import payments_extensions
from tests.support.switch import start_switch

PAYMENTS_XML = os.path.join(os.path.dirname(__file__), "..", "..", "freeswitch_conf", "dialplan",
                            "payments.xml")

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


TARGET_XML = """<include><context name="x">
  <extension name="target" continue="true">
    <condition field="${where}" expression="^(\\d+)$">
      <action application="set" data="target=$1"/>
      <anti-action application="set" data="target=$${default}"/>
    </condition>
  </extension>
  <extension name="dial"><condition field="destination_number" expression="^dial$">
    <action application="socket" data="${target} async full"/>
  </condition></extension>
</context></include>"""


def test_a_continue_condition_on_a_variable_chooses_at_routing_time(tmp_path):
    path = tmp_path / "plan.xml"
    path.write_text(TARGET_XML)
    [condition, socket] = extensions_from_xml([str(path)], {"default": "7"})["dial"]
    assert condition == Condition("where", "^(\\d+)$", (("set", "target=$1"),),
                                  (("set", "target=7"),))
    assert routed([condition, socket], {"where": "42"}) == [("set", "target=42"), socket]
    assert routed([condition, socket], {"where": "no"}) == [("set", "target=7"), socket]
    assert routed([condition, socket], {}) == [("set", "target=7"), socket]


def test_the_simulators_payments_context_is_the_shipped_one_up_to_its_fallbacks():
    address = ("127.0.0.1", 9)
    shipped = extensions_from_xml([PAYMENTS_XML], {"orchestrator_esl_address": "127.0.0.1:9"})
    for name, plan in payments_extensions(address).items():
        assert shipped[name][:len(plan)] == plan, name
    # the socket is the instance the payment names, else the first instance
    for variables, target in (({"pay_socket_address": "127.0.0.1:8085"}, "127.0.0.1:8085"),
                              ({}, "127.0.0.1:9"),
                              ({"pay_socket_address": "x y"}, "127.0.0.1:9")):
        actions = routed(shipped["pay"], variables)
        assert actions[0] == ("set", "pay_socket_target=" + target), variables
        assert ("socket", "${pay_socket_target} async full") in actions


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
