"""A call's channel variables (orchestrator/esl/variables.py) against a model of the switch:
the switch holds the call's variables, our writes change them there at once (the switch
answered them), and each channel event is a snapshot of all of them. What the service knows is
then exactly the switch's variables as of its newest event, with our writes after it: whatever
the order of events, writes and reads, by name or all at once, and never the secret's."""
import random

from orchestrator.esl.variables import ChannelVariables

SECRET = "variable_hangup_cause"
NAMES = ("pay_amount", "pay_result", "scratch", "tts_voice", "current_application",
         "hangup_cause", "absent")


class SwitchModel:
    def __init__(self, rng):
        self.rng = rng
        self.state = {"pay_amount": "1250", "hangup_cause": "4111111111111111"}
        self.known = dict(self.state)        # as of the newest event, with our writes since

    def snapshot(self):
        headers = {"Event-Name": "CHANNEL_EXECUTE_COMPLETE", "Unique-ID": "u"}
        headers.update(("variable_" + name, value) for name, value in self.state.items())
        return headers

    def switch_moves(self):
        """The switch sets a variable of its own (an application's), then sends an event."""
        self.state["current_application"] = self.rng.choice(("answer", "lua", "playback"))
        if self.rng.random() < 0.3:
            self.state["hangup_cause"] = self.rng.choice(("4000056655665556", "737"))
        headers = self.snapshot()
        self.known = dict(self.state)
        return headers


def test_any_order_of_events_writes_and_reads_agrees_with_the_switch():
    for seed in range(300):
        rng = random.Random(seed)
        switch = SwitchModel(rng)
        first = switch.snapshot()
        variables = ChannelVariables(first, SECRET)
        switch.known = dict(switch.state)
        for step in range(40):
            action = rng.choice(("event", "event", "write", "write_all", "remove", "one", "all"))
            if action == "event":
                variables.arrived(switch.switch_moves())
            elif action in ("write", "write_all"):
                pairs = [(rng.choice(NAMES[:4]), str(rng.randrange(100)))
                         for _ in range(1 if action == "write" else rng.randrange(1, 4))]
                for name, value in pairs:
                    switch.state[name] = value
                    switch.known[name] = value
                if action == "write":
                    variables.write(*pairs[0])
                else:
                    variables.write_all(pairs)
            elif action == "remove":
                name = rng.choice(NAMES[:4])
                switch.state.pop(name, None)
                switch.known.pop(name, None)
                variables.remove(name)
            truth = {name: value for name, value in switch.known.items() if name != "hangup_cause"}
            where = "seed %d step %d (%s)" % (seed, step, action)
            # by name first: all() takes the newest event, and what follows must go on from there
            for name in NAMES:
                assert variables.get(name) == truth.get(name), "%s: %s" % (where, name)
            if action == "all":
                assert dict(variables.all()) == truth, where     # the secret not among them


def test_a_read_by_name_leaves_the_newest_event_unparsed():
    variables = ChannelVariables({"variable_pay_amount": "1"}, SECRET)

    class Counting(dict):
        reads = 0

        def items(self):
            Counting.reads += 1
            return super().items()

    variables.arrived(Counting({"variable_pay_amount": "2", "variable_x": "y"}))
    variables.write("pay_result", "approved")
    assert variables.get("pay_amount") == "2" and variables.get("pay_result") == "approved"
    assert Counting.reads == 0              # neither the write nor the reads parsed it
    assert variables.all() == {"pay_amount": "2", "x": "y", "pay_result": "approved"}
    assert Counting.reads == 1


def test_a_write_is_under_an_event_that_came_after_it():
    variables = ChannelVariables({}, SECRET)
    variables.arrived({"variable_tts_voice": "kal"})
    variables.write("tts_voice", "slt")                    # newer than that event
    assert variables.get("tts_voice") == "slt"
    variables.arrived({"variable_tts_voice": "awb"})       # the switch changed it since
    assert variables.get("tts_voice") == "awb" and variables.all()["tts_voice"] == "awb"
