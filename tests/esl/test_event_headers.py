"""EventHeaders: an event's headers read one at a time without parsing the rest, and always
as the whole parse (``parse_header_block``) would read them."""
import random

from orchestrator.esl import protocol
from orchestrator.esl.protocol import EventHeaders, parse_header_block
from orchestrator.simulator.wire import url_encode

EVENT = ("Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: 5f1c\nApplication: playback\n"
         "Application-Response: FILE%20PLAYED\nApplication-UUID: a1\n"
         "variable_caller: Ana%20L%C3%B3pez\nUnique-ID: 5f1d")


def test_one_header_is_read_without_parsing_the_others(monkeypatch):
    parsed = []
    real = protocol.parse_header_block
    monkeypatch.setattr(protocol, "parse_header_block", lambda text: parsed.append(1) or real(text))
    headers = EventHeaders(EVENT, "text/event-plain")
    assert headers.peek("Application-Response") == "FILE PLAYED"
    assert headers.get("Application-UUID") == "a1"
    assert headers.get("Hangup-Cause", "none") == "none" and headers.peek("Hangup-Cause") == ""
    assert "Application" in headers and "Hangup-Cause" not in headers
    assert headers.peek("Unique-ID") == "5f1d"       # the last of a name, as the parse keeps
    assert headers.peek("Content-Type") == "text/event-plain"
    assert parsed == []
    assert dict(headers)["variable_caller"] == "Ana López" and parsed == [1]


def test_every_read_agrees_with_the_whole_parse_whatever_the_peer_sends():
    """Random blocks, as FreeSWITCH writes them and otherwise (spaces and tabs round a name,
    carriage returns, form feeds, non-ASCII spaces): ``peek``, ``get`` and ``in`` on a fresh
    EventHeaders give what the parsed dictionary holds."""
    names = ["Unique-ID", "Event-Name", "A", "variable_x"]
    spaces = ["", " ", "\t", "\r", "\x0c", "\x1f", "\xa0", "\u2003"]
    chance = random.Random(7)
    for _ in range(3000):
        lines = []
        for _ in range(chance.randint(1, 5)):
            name = names[chance.randrange(len(names))]
            value = url_encode(chance.choice(["v", "a b", "%", "é", ""]))
            lines.append("%s%s%s:%s%s" % (chance.choice(spaces), name, chance.choice(spaces),
                                          chance.choice(["", " "]), value))
        text = "\n".join(lines)
        whole = parse_header_block(text)
        for name in names:
            assert EventHeaders(text, "t").peek(name) == whole.get(name, ""), repr(text)
            assert EventHeaders(text, "t").get(name) == whole.get(name), repr(text)
            assert (name in EventHeaders(text, "t")) == (name in whole), repr(text)


def test_an_event_is_true_without_its_headers_being_parsed(monkeypatch):
    """``headers or {}`` on a completion asked ``len()``, which parsed every variable of it."""
    parsed = []
    real = protocol.parse_header_block
    monkeypatch.setattr(protocol, "parse_header_block", lambda text: parsed.append(1) or real(text))
    headers = EventHeaders(EVENT, "text/event-plain")
    assert headers and (headers or {}).get("Application-UUID") == "a1"
    assert parsed == []
    assert len(headers) == 7 and parsed == [1] and bool(headers)
