"""The `api` commands the simulator knows, answering with mod_commands' texts."""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Callable, Dict

if TYPE_CHECKING:
    from .switch import Switch

NO_CHANNEL = "-ERR No such channel!\n"

ApiFunc = Callable[["Switch", str], str]
_API: Dict[str, ApiFunc] = {}



def _locate(switch: "Switch", uuid: str):
    """switch_core_session_locate: a channel that has hung up can no longer be locked, so
    every uuid_* command answers as if it did not exist (seen on 1.10.12: an api_hangup_hook
    running uuid_setvar on its own channel gets "-ERR No such channel!")."""
    channel = switch.channels.get(uuid)
    if channel is None or channel.state == "hangup":
        return None
    return channel

def api(name: str):
    def register(func: ApiFunc) -> ApiFunc:
        _API[name] = func
        return func
    return register


def execute(switch: "Switch", text: str) -> str:
    name, _, arg = text.strip().partition(" ")
    func = _API.get(name.lower())
    if func is None:
        return f"-ERR {name} Command not found!\n"
    return func(switch, arg.strip())


@api("status")
def _status(switch: "Switch", arg: str) -> str:
    up = max(0.0, time.monotonic() - switch.started_at)
    secs = int(up)
    ms = int((up - secs) * 1000)
    mms = int((up * 1_000_000) % 1000)
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)

    def plural(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    count = len(switch.channels)
    return (f"UP {plural(0, 'year')}, {plural(days, 'day')}, {plural(hours, 'hour')}, "
            f"{plural(minutes, 'minute')}, {plural(seconds, 'second')}, {plural(ms, 'millisecond')}, "
            f"{plural(mms, 'microsecond')}\n"
            f"FreeSWITCH (Version 1.10.12-release simulator 64bit) is ready\n"
            f"{switch.sessions_since_startup} session(s) since startup\n"
            f"{count} session(s) - peak {switch.sessions_peak}, last 5min {switch.sessions_peak} \n"
            f"0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
            f"1000 session(s) max\n"
            f"min idle cpu 0.00/99.00\n"
            f"Current Stack Size/Max 240K/8192K\n")


@api("uuid_break")
def _uuid_break(switch: "Switch", arg: str) -> str:
    if not arg:
        return "-USAGE: <uuid> [all]\n"
    uuid, _, flag = arg.partition(" ")
    channel = _locate(switch, uuid)
    if channel is None:
        return NO_CHANNEL
    channel.break_app(flush="all" in flag)
    return "+OK\n"


@api("uuid_recv_dtmf")
def _uuid_recv_dtmf(switch: "Switch", arg: str) -> str:
    """Queue digits as if the caller had keyed them (switch_channel_queue_dtmf_string)."""
    uuid, _, digits = arg.strip().partition(" ")
    digits = digits.strip()
    if not uuid or not digits:
        return "-USAGE: <uuid> <dtmf_data>\n"
    channel = _locate(switch, uuid)
    if channel is None:
        return "-ERR Cannot locate session!\n"
    for digit in digits:
        channel.press(digit)
    return "+OK %s received DTMF %s.\n" % (uuid, digits)


@api("uuid_flush_dtmf")
def _uuid_flush_dtmf(switch: "Switch", arg: str) -> str:
    """Keys here go straight to the running application: there is no queue to flush."""
    channel = _locate(switch, arg.strip())
    return "+OK\n" if channel is not None else NO_CHANNEL


@api("uuid_kill")
def _uuid_kill(switch: "Switch", arg: str) -> str:
    if not arg:
        return "-USAGE: <uuid> [cause]\n"
    uuid, _, cause = arg.partition(" ")
    channel = _locate(switch, uuid)
    if channel is None or not channel.up:
        return NO_CHANNEL
    channel.hangup(cause.strip() or "NORMAL_CLEARING", by="service")
    return "+OK\n"


@api("uuid_exists")
def _uuid_exists(switch: "Switch", arg: str) -> str:
    channel = _locate(switch, arg.strip())
    return "true" if channel is not None and channel.up else "false"


@api("uuid_getvar")
def _uuid_getvar(switch: "Switch", arg: str) -> str:
    words = arg.split()
    if not words:
        return "-USAGE: <uuid> <var>\n"
    channel = _locate(switch, words[0])
    if channel is None:
        return NO_CHANNEL
    if len(words) < 2:
        return "-ERR No variable name specified!\n"
    value = channel.variables.get(words[1])
    return value if value is not None else "_undef_"


@api("uuid_setvar")
def _uuid_setvar(switch: "Switch", arg: str) -> str:
    words = arg.split(" ", 2)
    if not words or not words[0]:
        return "-USAGE: <uuid> <var> [value]\n"
    channel = _locate(switch, words[0])
    if channel is None:
        return NO_CHANNEL
    if len(words) < 2 or not words[1]:
        return "-ERR No variable specified\n"
    if len(words) > 2 and words[2] != "":
        channel.set_var(words[1], words[2])
    else:
        channel.unset_var(words[1])
    return "+OK\n"


@api("uuid_setvar_multi")
def _uuid_setvar_multi(switch: "Switch", arg: str) -> str:
    """uuid_setvar_multi <uuid> <var>=<value>;<var>=<value>...: an empty value unsets."""
    uuid, _, assignments = arg.partition(" ")
    if not uuid or not assignments.strip():
        return "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
    channel = _locate(switch, uuid)
    if channel is None:
        return NO_CHANNEL
    for item in assignments.split(";"):
        name, _, value = item.partition("=")
        if not name.strip():
            return "-ERR No variable specified\n"
        if value:
            channel.set_var(name.strip(), value)
        else:
            channel.unset_var(name.strip())
    return "+OK\n"


@api("uuid_broadcast")
def _uuid_broadcast(switch: "Switch", arg: str) -> str:
    """uuid_broadcast <uuid> <path> [aleg|bleg|both]: only an agent leg takes note (legs.py)."""
    words = arg.split()
    if len(words) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
    channel = _locate(switch, words[0])
    if channel is None:
        return "-ERR Cannot locate session!\n"
    if hasattr(channel, "broadcast"):
        channel.broadcast(words[1])
    return "+OK Message sent\n"


@api("uuid_bridge")
def _uuid_bridge(switch: "Switch", arg: str) -> str:
    """uuid_bridge <uuid> <other_uuid>: here, a call under a socket back to an agent leg."""
    words = arg.split()
    if len(words) != 2:
        return "-USAGE: <uuid> <other_uuid>\n"
    first, second = _locate(switch, words[0]), _locate(switch, words[1])
    if first is None or second is None or not first.up or not second.up:
        return "-ERR Invalid uuid\n"
    if not hasattr(first, "bridge_to_leg") or not hasattr(second, "bridge_with"):
        return "-ERR not emulated: uuid_bridge joins a call to an agent leg only\n"
    second.break_app(flush=True)
    first.bridge_to_leg(second)
    return "+OK %s\n" % second.uuid


@api("uuid_record")
def _uuid_record(switch: "Switch", arg: str) -> str:
    """uuid_record <uuid> start|stop|mask|unmask|pause|resume <path> [<limit>]: no media here,
    so a recording is the list of keys it would have heard (in-band tones) while neither masked
    nor paused."""
    words = arg.split()
    if len(words) < 3 or words[1] not in ("start", "stop", "mask", "unmask", "pause", "resume"):
        return "-USAGE: <uuid> [start|stop|mask|unmask|pause|resume] <path> [<limit>]\n"
    channel = _locate(switch, words[0])
    if channel is None:
        return "-ERR Cannot locate session!\n"
    action, path = words[1], words[2]
    if action == "start":
        channel.recordings[path] = "recording"
    elif path not in channel.recordings:
        return ("-ERR Cannot stop record session!\n" if action == "stop"
                else "-ERR Cannot %s recording session!\n" % action)
    elif action == "stop":
        del channel.recordings[path]
    else:
        channel.recordings[path] = {"mask": "masked", "pause": "paused"}.get(action, "recording")
    channel.record.recording_log.append((channel.record.elapsed(), action, path))
    return "+OK Success\n"


@api("uuid_transfer")
def _uuid_transfer(switch: "Switch", arg: str) -> str:
    words = [w for w in arg.split() if w not in ("-bleg", "-both")]
    if len(words) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
    channel = _locate(switch, words[0])
    if channel is None or not channel.up:
        return NO_CHANNEL
    channel.transfer_now(words[1], words[2] if len(words) > 2 else "XML",
                         words[3] if len(words) > 3 else "default")
    return "+OK\n"


_SHOW_CHANNELS_HEAD = ("uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,"
                       "application,application_data,dialplan,context,read_codec,read_rate,read_bit_rate,"
                       "write_codec,write_rate,write_bit_rate,secure,hostname,presence_id,presence_data,"
                       "accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,sent_callee_name,"
                       "sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,"
                       "initial_dialplan,initial_context")


@api("file_exists")
def _file_exists(switch: "Switch", arg: str) -> str:
    """Every file is there but those ``missing_files`` names (as playback finds them)."""
    return "false" if switch.file_missing(arg.strip()) else "true"


@api("global_getvar")
def _global_getvar(switch: "Switch", arg: str) -> str:
    """A global variable; an unset one answers empty, as mod_commands does. ``core_uuid`` is
    the switch's Core-UUID, the one every event (and a call's socket connect) carries."""
    known = {"core_uuid": switch.event_factory.core_uuid, "hostname": switch.hostname,
             "local_ip_v4": "127.0.0.1"}
    return known.get(arg.strip(), "")


@api("show")
def _show(switch: "Switch", arg: str) -> str:
    words = arg.split()
    what = words[0].lower() if words else ""
    if what != "channels":
        return "-USAGE: show channels\n"
    rows = [ch.show_row(switch.hostname) for ch in list(switch.channels.values()) if ch.up]
    if [w.lower() for w in words[1:]] == ["as", "json"]:
        # mod_commands' JSON form: row_count alone when there is no row (seen on 1.10)
        if not rows:
            return json.dumps({"row_count": 0}) + "\n"
        names = _SHOW_CHANNELS_HEAD.split(",")
        return json.dumps({"row_count": len(rows),
                           "rows": [dict(zip(names, row.split(","))) for row in rows]}) + "\n"
    if not rows:
        return "\n0 total.\n"
    return _SHOW_CHANNELS_HEAD + "\n" + "\n".join(rows) + f"\n\n{len(rows)} total.\n"
