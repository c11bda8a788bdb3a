"""Switch events: the core headers every FreeSWITCH event starts with, and the names
`event` subscriptions understand.

An event is kept as an ordered list of (name, value) pairs because FreeSWITCH keeps
header order, and listeners (and tests) read the wire in that order.
"""
from __future__ import annotations

import itertools
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Tuple

# switch_event.c EVENT_NAMES (the ones a client is likely to name; others are ignored
# by `event`, exactly like an unknown name is ignored by FreeSWITCH).
EVENT_NAMES = frozenset("""
CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER
CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD
CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA
CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID
API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH
MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE
MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE
PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML
NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS
CHANNEL_DATA GENERAL COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED
SEND_INFO RECV_INFO RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START
RECORD_STOP PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START
MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT
CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL
""".split())

# mod_event_socket.c, `myevents`: what a session listener receives.
MYEVENTS = frozenset("""
CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA CHANNEL_DESTROY
CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE
CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_PROGRESS
CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK DETECTED_SPEECH DTMF
NOTALK TALK
""".split())


def new_uuid() -> str:
    return str(uuidlib.uuid4())


@dataclass
class SimEvent:
    name: str
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: Optional[str] = None
    _index: Optional[dict] = field(default=None, repr=False, compare=False)
    _indexed: int = field(default=0, repr=False, compare=False)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first header called ``name`` (any case). Every listener asks an event for its
        channel, so the headers are indexed once, and again if more are appended."""
        index = self._index
        if index is None or self._indexed != len(self.headers):
            # reversed, so the first of a name is the one left standing
            index = {key.lower(): value for key, value in reversed(self.headers)}
            self._index, self._indexed = index, len(self.headers)
        return index.get(name.lower(), default)

    def as_dict(self) -> dict:
        out = dict(self.headers)
        if self.body is not None:
            out["_body"] = self.body
        return out


class EventFactory:
    """Stamps events with the headers switch_event_prep_for_delivery adds."""

    def __init__(self, hostname: str = "sim-freeswitch", core_uuid: Optional[str] = None):
        self.hostname = hostname
        self.core_uuid = core_uuid or new_uuid()
        self._seq = itertools.count(1)
        self._dates: Tuple[int, str, str] = (-1, "", "")    # (second, local, GMT) last stamped

    def _dates_of(self, now: float) -> Tuple[str, str]:
        """The two date headers of second ``now``, formatted once a second, not per event."""
        second = int(now)
        if self._dates[0] != second:
            self._dates = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
                           time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second)))
        return self._dates[1], self._dates[2]

    def create(self, name: str, extra: Iterable[Tuple[str, str]] = (), body: Optional[str] = None,
               calling: Tuple[str, str, int] = ("switch_channel.c", "switch_channel_event_set_data", 0)) -> SimEvent:
        now = time.time()
        local, gmt = self._dates_of(now)
        headers = [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", self.hostname),
            ("FreeSWITCH-Switchname", self.hostname),
            ("FreeSWITCH-IPv4", "127.0.0.1"),
            ("FreeSWITCH-IPv6", "::1"),
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(int(now * 1_000_000))),
            ("Event-Calling-File", calling[0]),
            ("Event-Calling-Function", calling[1]),
            ("Event-Calling-Line-Number", str(calling[2])),
            ("Event-Sequence", str(next(self._seq))),
        ]
        headers.extend(extra)
        return SimEvent(name=name, headers=headers, body=body)
