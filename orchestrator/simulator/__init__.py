"""A wire-level stand-in for FreeSWITCH 1.10's mod_event_socket, with scripted callers.

It exists so the orchestrator can be exercised (demo, ``orchestrator simulate``,
integration tests, benchmarks) over real TCP sockets on 127.0.0.1 without a switch,
and so tests can see exactly what crossed the wire. gevent-based; it never
monkey-patches.

Usage::

    from orchestrator.simulator import Switch, CallerScript, Faults
    sw = Switch(password="s3cret", time_scale=0.05).start()
    sw.inbound_address                       # ("127.0.0.1", port) for inbound ESL clients
    call = sw.place_call(("127.0.0.1", orch_port),
                         caller=CallerScript.from_yaml("steps: [{wait_prompt: 1}, {press: '1'}]"),
                         destination="1000", variables={"pay_flow": "welcome"},
                         full=True, faults=Faults(reply_delay=0.2))
    record = call.wait(timeout=30)           # CallRecord; TimeoutError with a useful message
    print(render_timeline(record))
    sw.channels                              # live channels by uuid
    sw.stop()                                # closes every socket, ends every greenlet

``Switch(password="ClueCon", time_scale=1.0, faults=None, prompt_seconds=2.0,
prompt_durations={"glob": seconds}, missing_files=("glob",...))``:
``time_scale`` multiplies every simulated duration (prompts, silence_stream://N, sleep,
digit timeouts, caller script waits, bridge ringing) but not wall-clock protocol timers
(linger, the 25 s connect/auth timeouts, fault delays). ``extensions={"name": [(app, arg), ...]}``
says what a transfer target runs (its events reach the still-attached socket, then it hangs up).

Pinned to FreeSWITCH 1.10.12 by ``tests/conformance`` (golden transcripts replayed here): a
hangup goes CHANNEL_HANGUP, CHANNEL_UNPARK, CHANNEL_EXECUTE_COMPLETE(socket), CHANNEL_STATE
CS_HANGUP and CS_REPORTING, CHANNEL_HANGUP_COMPLETE, then the linger or disconnect notice; a
transfer completes, unparks, completes ``socket``, goes CS_ROUTING/CS_EXECUTE and keeps the
socket; DTMF and CHANNEL_STATE events carry no ``variable_*``; CHANNEL_PARK follows ``connect``.

``place_call(address, caller=None, destination="1000", variables=None, full=True,
async_=True, faults=None, caller_id_number=..., caller_id_name=..., socket_resume=True,
prompt_seconds=None) -> Call``. ``socket_resume`` defaults to true like the project's
dialplan. ``Call``: ``uuid``, ``record``, ``channel``, ``done``, ``wait(timeout)``,
``press(digits)``, ``hangup(cause)``, ``timeline()``.

``CallRecord`` (verbatim, card digits included: writers mask it, see ``record``): ``heard``
(Heard: t, app, arg, ended, interrupted_by, barged, number: what ``wait_prompt`` counts), ``pressed`` (Press: t, digit, taken_by,
secure), ``apps`` (t, app, arg, response), ``events`` (t, name, headers), ``transcript``
((t, "in"|"out", raw) seen from the switch: "in" = received from the orchestrator), ``hangup_cause``, ``hangup_by`` (caller|service|switch), ``transferred_to``,
``bridged_to``, ``bridge_attempts``, ``fallback_reached``, ``variables`` (at the end),
``answered``, ``errors``, ``outcome``, ``wire_text()``.

Emulated (FreeSWITCH texts taken from mod_event_socket / mod_commands / mod_dptools):
inbound auth/api/bgapi/event/nixevent/noevents/filter/myevents <uuid>/sendmsg <uuid>/exit;
outbound connect (reply = serialized CHANNEL_DATA event, URL-encoded, ``Reply-Text: %2BOK%0A``),
myevents, linger [N], nolinger, resume, getvar, divert_events, sendmsg execute/hangup,
refusals without ``full``; api status, uuid_break, uuid_kill, uuid_exists, uuid_getvar,
uuid_setvar, uuid_transfer, show channels [as json]; apps answer, pre_answer, playback, speak, say,
play_and_get_digits, set, unset, export, multiset, sleep, park, transfer, bridge, hangup
and a few no-ops (log, info, ...). Stay-on-line payments (``eavesdrop``: docs/stay-on-line.md):
``uuid_audio <uuid> start read mute 1|stop``, ``uuid_bridge``, ``intercept``, agent legs
running ``eavesdrop`` with whisper (what they hear is kept on the ``AgentLeg``), the dialplan's
actions after ``socket`` when the socket goes, and the reset of a bridge by a socket closed
with ``socket_resume`` still set (``CallRecord.torn_down``). An unknown app hangs the call up with
DESTINATION_OUT_OF_ORDER, as FreeSWITCH does. Caller scripts: see ``caller``; faults: see
``faults``.
"""
from .caller import CallerScript, ScriptError
from .faults import Faults
from .record import CallRecord, Heard, Press, render_timeline
from .switch import Call, Switch

__all__ = ["Switch", "Call", "CallerScript", "ScriptError", "Faults", "CallRecord", "Heard", "Press",
           "render_timeline"]
