"""The comparison bench's switch: the project's simulator in a process of its own, so that its
CPU is counted apart from the client's (``bench.compare`` reads each process's own times).

    python -m bench.sim_process --time-scale 0.05

It prints one JSON line, ``{"inbound": port}`` (the inbound event socket a service's node
connects to), then reads one JSON command a line on stdin and answers each with one JSON line
on stdout:

- ``{"op": "calls", "address": [host, port], "kind": "minimal"|"card", "calls": N,
  "concurrency": C, "rate": R}`` places N calls (at most C at once; with a rate, one every
  1/R seconds, C then bounding how many are up) and answers ``{"calls": [...]}``, a summary
  of each: ``ok`` (the call did what its kind expects), ``setup`` (seconds from the dial to
  the first application the client ran), ``duration``, ``events`` and ``bytes`` (what the
  switch sent the client's socket), and ``late`` (seconds the placing fell behind the rate);
  with them ``gc``, the longest garbage collection of this process during the batch (seconds).
- ``{"op": "hold", "address": ..., "kind": ..., "calls": K, "seconds": S}`` places K calls
  whose first prompt lasts until they are released, and answers ``{"held": n, "placing": P,
  "seconds": T}`` once all K are in it or S seconds after the last was placed (P: seconds the
  placing took); ``{"op": "release"}`` hangs them up and answers ``{"released": n}``.
- ``{"op": "exit"}`` ends the process.

Nothing here counts as the client's work: the callers are scripted, the calls judged here.
"""
import argparse
import contextlib
import gc
import json
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

import gevent
import gevent.pool
from gevent.fileobject import FileObjectPosix

from bench.books import what_was_heard
from bench.card_flow import keying_steps
from orchestrator.payments.sandbox_cards import card_for
from orchestrator.simulator import Call, CallerScript, Switch

PASSWORD = "compare-bench"
MINIMAL_FILE = "bench/minimal.wav"     # what the minimal call plays; the simulator plays anything
CALL_TIMEOUT = 60.0
HOLD_TIMEOUT = 120.0
HOLD_PROMPT = 3600.0     # wall seconds: a held call's prompt outlasts any hold; release ends it


def minimal_correct(call: Call) -> bool:
    """Answered, the one file heard to its end, hung up by the client, the socket used."""
    record = call.record
    heard = [h for h in record.heard if h.app == "playback"]
    return (record.answered and record.socket_connected and record.hangup_by == "service"
            and len(heard) == 1 and heard[0].arg.endswith(MINIMAL_FILE)
            and heard[0].interrupted_by is None and not record.fallback_reached)


def card_correct(call: Call) -> bool:
    """The caller heard the approval (the sandbox's approving card was keyed)."""
    record = call.record
    return (record.answered and not record.fallback_reached
            and what_was_heard([h.arg for h in record.heard]) == "approved")


def timeline(call: Call) -> str:
    """The applications run and the keys pressed, in order, by time and name: which key came
    when, and which application (if any) took it. Never the keys themselves."""
    record = call.record
    moments = [(t, "%s%s" % (app, "" if response in ("", "_none_", None) else "=" + response))
               for t, app, _, response in record.apps]
    moments += [(press.t, "key>%s" % (press.taken_by or "nobody")) for press in record.pressed]
    moments += [(heard.t, "heard(%s)" % heard.app) for heard in record.heard]
    return " ".join("%.3f:%s" % moment for moment in sorted(moments))


def why_wrong(call: Call, kind: str) -> str:
    """A wrong call in a few words, so a run's problems can be told apart: how it ended and,
    for a card call, what the caller was told."""
    record = call.record
    told = ""
    if kind != "minimal":
        # the prompts by file name only, and how many keys were pressed and taken: never the keys
        names = [h.arg.rsplit("/", 1)[-1] for h in record.heard]
        taken = sum(1 for press in record.pressed if press.taken_by)
        told = ", heard %s after %d prompts (%s), %d keys pressed, %d taken" % (
            what_was_heard([h.arg for h in record.heard]), len(names),
            " > ".join(names[-3:]), len(record.pressed), taken)
    if not record.answered:
        return "never answered (%s)%s" % (record.outcome, told)
    return record.outcome + told


def summary(call: Call, kind: str, late: float) -> Dict[str, Any]:
    record = call.record
    sent = [text for _, direction, text in record.transcript if direction == "out"]
    ok = minimal_correct(call) if kind == "minimal" else card_correct(call)
    return {"ok": ok, "why": None if ok else why_wrong(call, kind),
            "timeline": None if ok else timeline(call), "setup": record.apps[0][0] if record.apps else None,
            "duration": (record.ended or record.elapsed()),
            "events": sum(1 for text in sent if "Content-Type: text/event-" in text[:80]),
            "bytes": sum(len(text.encode("utf-8")) for text in sent), "late": late}


class Bench:
    def __init__(self, time_scale: float) -> None:
        # the calls are judged by what was heard and sent, never by the events kept
        self.switch = Switch(password=PASSWORD, time_scale=time_scale,
                             hostname="sim-compare", keep_events=False).start()
        self.time_scale = time_scale
        self.held: List[Call] = []
        self.serial = 0
        gc.collect()
        gc.freeze()     # what start-up made lives as long as the process: out of every collection
        # the longest garbage collection of the current batch, and when the running one began:
        # a collection stops every call of this process at once, so a placing that fell behind
        # can be told apart from a simulator out of CPU (``gc`` in a batch's answer)
        self.gc_longest = 0.0
        self._gc_began = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        elif self._gc_began:
            self.gc_longest = max(self.gc_longest, time.perf_counter() - self._gc_began)

    def _place(self, address, kind: str, prompt_seconds: Optional[float] = None,
               hold: bool = False) -> Call:
        self.serial += 1
        # a caller gives up after max_duration (switch seconds); a held call must outlast
        # its prompt, which outlasts the placing of all the others and the hold itself
        patience = 600.0 if not hold else (prompt_seconds or 0.0) + self._switch_seconds(
            CALL_TIMEOUT)
        if kind == "minimal":
            variables = {"pay_flow": "bench_minimal"}
            caller = CallerScript.silent(max_duration=patience)
        else:
            # as the shipped payment extension (7000) sends it: secure from the dialplan, so
            # announcements are played inside the secure reads, as on a real switch
            variables = {"pay_flow": "card_payment", "pay_amount": str(1000 + self.serial % 9000),
                         "pay_currency": "EUR", "pay_reference": "CMP-%06d" % self.serial,
                         "sensitive_dtmf": "true", "digits_dialed_filter": "(.+)"}
            caller = (CallerScript.silent(max_duration=patience) if hold else
                      CallerScript.from_data({"steps": keying_steps(card_for("approve")),
                                              "max_duration": 600}))
        return self.switch.place_call(tuple(address), caller=caller, variables=variables,
                                      prompt_seconds=prompt_seconds)

    def _switch_seconds(self, wall: float) -> float:
        return wall / self.time_scale if self.time_scale else wall

    def calls(self, command: dict) -> dict:
        rate = command.get("rate")
        with self._collector_paused(bool(rate)):
            return self._place_all(command, int(command["calls"]), command["kind"], rate)

    @contextlib.contextmanager
    def _collector_paused(self, paused: bool) -> Iterator[None]:
        """A step of the ramp runs with no collection of this process's own while it places
        calls on the clock. A full one walks every live call's objects, 150 to 190 ms at a
        step's hundreds of calls, and every call placed meanwhile came late: that, not the
        client, ended the ramps at 40 to 60 calls a second. The step's garbage (a few hundred
        calls') is collected once it is over."""
        self.gc_longest = 0.0
        if paused:
            gc.disable()
        try:
            yield
        finally:
            if paused:
                gc.enable()
                gc.collect()

    def _place_all(self, command: dict, count: int, kind: str, rate: Optional[float]) -> dict:
        slots = gevent.pool.Pool(int(command.get("concurrency") or count))
        results: List[Dict[str, Any]] = []
        began = time.monotonic()

        def one(late: float) -> None:
            call = self._place(command["address"], kind)
            try:
                call.wait(timeout=CALL_TIMEOUT)
            except TimeoutError:
                pass
            results.append(summary(call, kind, late))
            self.switch.forget(call)      # its record is summed up: the memory goes back

        for index in range(count):
            if rate:
                due = began + index / float(rate)
                gevent.sleep(max(0.0, due - time.monotonic()))
            slots.wait_available(timeout=CALL_TIMEOUT)
            late = max(0.0, time.monotonic() - began - index / float(rate)) if rate else 0.0
            slots.spawn(one, late)
        slots.join(timeout=CALL_TIMEOUT * 2)
        return {"calls": results, "seconds": time.monotonic() - began, "gc": self.gc_longest}

    def hold(self, command: dict) -> dict:
        """Place ``calls`` calls whose first prompt outlasts the whole hold, then wait, at most
        ``seconds`` after the last is placed, until every one is in its prompt.

        The prompt's clock must not start at each call's own placing: placing 10,000 calls
        takes longer than a short hold, and the first calls' prompts would end before the
        last call is placed. A held call is let go by ``release`` (or its caller's patience)."""
        seconds = float(command["seconds"])
        count = int(command["calls"])
        prompt = self._switch_seconds(HOLD_PROMPT)
        began = time.monotonic()
        for _ in range(count):
            self.held.append(self._place(command["address"], command["kind"],
                                         prompt_seconds=prompt, hold=True))
            gevent.sleep(0)
        placed = time.monotonic()
        deadline = placed + min(seconds, HOLD_TIMEOUT)
        while time.monotonic() < deadline:
            if self._in_prompt() == count:
                break
            gevent.sleep(0.1)
        return {"held": self._in_prompt(), "placing": placed - began,
                "seconds": time.monotonic() - began, "why": self._why_not_held(command["kind"])}

    def _in_prompt(self) -> int:
        return sum(1 for call in self.held if call.record.heard and not call.done)

    def _why_not_held(self, kind: str) -> Dict[str, int]:
        """The calls not in their prompt, counted by how they stand (at most a few kinds)."""
        kinds: Dict[str, int] = {}
        for call in self.held:
            if call.record.heard and not call.done:
                continue
            if call.done:
                why = call.record.outcome
            elif not call.record.answered:
                why = "not answered yet" + (" (socket connected)" if call.record.socket_connected
                                            else "")
            else:
                why = "answered, no prompt yet"
            kinds[why] = kinds.get(why, 0) + 1
        return kinds

    def release(self) -> dict:
        calls, self.held = self.held, []
        for call in calls:
            if not call.done:
                call.hangup()
        done = 0
        for call in calls:
            try:
                call.wait(timeout=CALL_TIMEOUT)
                done += 1
            except TimeoutError:
                pass
            self.switch.forget(call)
        return {"released": done}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_process")
    parser.add_argument("--time-scale", type=float, default=0.05)
    args = parser.parse_args(argv)
    bench = Bench(args.time_scale)
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb")

    def say(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    say({"inbound": bench.switch.inbound_address[1]})
    try:
        while True:
            line = stdin.readline()
            if not line:
                return 0
            command = json.loads(line)
            op = command.get("op")
            if op == "calls":
                say(bench.calls(command))
            elif op == "hold":
                say(bench.hold(command))
            elif op == "release":
                say(bench.release())
            elif op == "exit":
                return 0
            else:
                say({"error": "unknown op %r" % op})
    finally:
        bench.switch.stop()


if __name__ == "__main__":
    sys.exit(main())
