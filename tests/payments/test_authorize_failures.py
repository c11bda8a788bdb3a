"""Every way a gateway call can fail, seen as a crash reporter that captures locals would see it.

Each failure is made to happen inside ``card.reveal()`` with the request body (number, expiry,
security code) in the frames that fail, as a connector has it. Whatever leaves
``Gateway.authorize`` (an exception, formatted with ``capture_locals=True`` and every frame's
locals repr'd with their attributes, chained and held exceptions followed; or the answer), and
the log, must hold no trace of the card (tests/support/card_traces.py). The controls first
show the search finds the card in what a careless function lets out.
"""
import json
import logging
import traceback

import gevent
import pytest

from orchestrator.payments.card import RevealedCard
from orchestrator.payments.gateways import Gateway, GatewayError
from orchestrator.payments.gateways.results import GATEWAY_ERROR_KINDS
from orchestrator.payments.gateways.transport import NotReached, OutcomeUnknown
from orchestrator.payments.money import Money
from tests.support.card_traces import (CODE, EXPIRY, NUMBER, crash_report, traced_card,
                                       traces)

KEY = "key-failure-0001"
# what a body of number, MMYY expiry and code shows the search
THE_BODY = {"number", "digits 4444444", "digits 4444448", "expiry 0837", "security code"}


class Scripted(Gateway[dict]):
    """A connector that builds a real body from the revealed card, then fails as told.

    ``prepare_fails``: an exception ``_prepare`` raises once the body is built (a bug there).
    ``send``: what ``_send`` does with the body. ``status``: what ``_status_once`` does.
    """
    type_name = "scripted"

    def __init__(self, send=None, prepare_fails=None, status=None):
        super().__init__("scripted", max_attempts=2, backoff=0.01, status_attempts=2,
                         status_interval=0.01)
        self.send, self.prepare_fails, self.status_query = send, prepare_fails, status
        self.supports_status = status is not None
        self.revealed = []

    def _prepare(self, money, reference, revealed, idempotency_key):
        self.revealed.append(revealed)
        values = {"number": revealed.number, "expiry": revealed.expiry_mmyy,
                  "year": revealed.expiry_year, "cvv": revealed.security_code}
        body = json.dumps(values).encode()
        if self.prepare_fails is not None:
            raise self.prepare_fails
        return {"key": idempotency_key, "body": body}

    def _send(self, request):
        body = request["body"]
        return self.send(body)

    def _status_once(self, idempotency_key):
        return self.status_query(idempotency_key)


def as_a_reporter(call):
    """(answer, report): what ``call`` returned, or the crash report of what it raised."""
    try:
        return call(), ""
    except BaseException as error:   # noqa: B036 - a reporter sees everything that escapes
        return None, crash_report(error)


def printed_and_reported(call):
    """What ``call`` raises, as ``traceback.TracebackException(capture_locals=True)`` prints it
    alone, and as the crash report; caught in a frame of its own, whose locals hold neither."""
    try:
        call()
    except BaseException as error:   # noqa: B036
        return ("".join(traceback.TracebackException(
            type(error), error, error.__traceback__, capture_locals=True).format()),
            crash_report(error))
    raise AssertionError("%r raised nothing" % call)


def authorize(gateway, card=None):
    card = card if card is not None else traced_card()
    return as_a_reporter(lambda: gateway.authorize(1250, "EUR", "order-1", card, KEY))


# -- the controls: the search finds the card in what careless code lets out -------------------

def careless_authorize(card):
    """Reveals, builds a body and fails inside the reveal, letting the exception out."""
    with card.reveal() as revealed:
        body = json.dumps({"pan": revealed.number, "exp": revealed.expiry_mmyy,
                           "cvv": revealed.security_code}).encode()
        raise RuntimeError("gateway said no to %d bytes" % len(body))


def test_control_the_search_finds_the_card_in_a_careless_traceback():
    _, report = as_a_reporter(lambda: careless_authorize(traced_card()))
    assert "RuntimeError" in report
    assert THE_BODY <= set(traces(report))
    # the traceback alone, formatted with locals as traceback.TracebackException prints it
    printed, _ = printed_and_reported(lambda: careless_authorize(traced_card()))
    assert THE_BODY <= set(traces(printed))


def send_bytes(body):
    raise ConnectionError("reset")


def converted_the_careless_way():
    """The transport's pattern done carelessly: ``from None`` hides the library's exception
    from the printed traceback, but it stays chained as ``__context__``, frames and all."""
    try:
        send_bytes(NUMBER.encode())
    except ConnectionError:
        raise OutcomeUnknown("connection", "lost") from None


def test_control_the_search_looks_into_objects_chained_and_held_exceptions():
    def revealed_left_uncleared():
        revealed = RevealedCard(NUMBER, EXPIRY[:2], "20" + EXPIRY[2:], CODE, None)
        raise ValueError("bad %s" % revealed)

    def holding_a_caught_one():
        try:
            converted_the_careless_way()
        except OutcomeUnknown as error:
            kept = error
        raise RuntimeError("later, %s still held" % type(kept).__name__)

    _, report = as_a_reporter(revealed_left_uncleared)       # in the slots, not the repr
    assert "<RevealedCard>" in report and "number" in traces(report)
    printed, report = printed_and_reported(converted_the_careless_way)
    assert traces(printed) == [] and "number" in traces(report)   # only through __context__
    _, report = as_a_reporter(holding_a_caught_one)          # an exception held in a local
    assert "number" in traces(report)


def test_control_the_search_ignores_addresses_line_numbers_and_masked_text():
    text = ("<object at 0x7f4444444448373> line 373 card=visa 444444******4448 "
            "amount 1250 timing 0.0837 code 73730")
    assert traces(text) == []


# -- every failure path of the call ------------------------------------------------------------

def raises(error):
    def send(body):
        raise error
    return send


def quoting_the_body(body):
    raise RuntimeError("could not send %r" % body)       # the message holds the card


def looking_the_body_up(body):
    return {}[body.decode()]                              # KeyError, the body as its argument


def parsing_a_deep_answer(body):
    return json.loads("[" * 100000 + "]" * 100000)        # a real RecursionError


def out_of_memory(body):
    raise MemoryError()


UNEXPECTED = {"a bug quoting the body": quoting_the_body,
              "KeyError with the body": looking_the_body_up,
              "RecursionError": parsing_a_deep_answer,
              "MemoryError": out_of_memory}


@pytest.mark.parametrize("name", list(UNEXPECTED))
def test_an_unexpected_failure_after_the_request_may_have_left_is_an_unknown_outcome(name, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = Scripted(send=UNEXPECTED[name])
    answer, report = authorize(gateway)
    assert report == ""                                   # nothing escaped
    assert isinstance(answer, GatewayError)
    assert answer.kind == "internal" and answer.outcome_unknown is True
    expected = {"a bug quoting the body": "RuntimeError", "KeyError with the body": "KeyError",
                "RecursionError": "RecursionError", "MemoryError": "MemoryError"}[name]
    assert answer.detail.startswith("unexpected " + expected + " at ")
    assert traces(repr(answer)) == [] and traces(caplog.text) == []
    assert "failed inside the call" in caplog.text
    assert all(r.number is None and r.security_code is None for r in gateway.revealed)


def test_a_bug_in_prepare_is_an_internal_error_with_nothing_sent(caplog):
    caplog.set_level(logging.DEBUG)
    sent = []
    gateway = Scripted(send=sent.append, prepare_fails=KeyError("card.pan"))
    answer, report = authorize(gateway)
    assert report == "" and sent == []
    assert answer == GatewayError("internal", False, answer.detail)
    assert "KeyError at test_authorize_failures.py" in answer.detail
    assert traces(caplog.text) == []
    assert gateway.revealed[0].number is None


@pytest.mark.parametrize("error, expected", [
    (NotReached("connect", "refused", retryable=False), GatewayError("connect", False, "refused")),
    (OutcomeUnknown("timeout", "no answer"), GatewayError("timeout", True, "no answer")),
])
def test_transport_failures_are_answers_with_no_card(error, expected, caplog):
    caplog.set_level(logging.DEBUG)

    def transport(body):
        try:   # as the transport does: the library's exception, raised where the body is
            raise OSError("socket closed after %d bytes" % len(body))
        except OSError:
            raise error from None

    answer, report = authorize(Scripted(send=transport))
    assert report == "" and answer == expected
    assert traces(caplog.text) == []


def test_an_unknown_outcome_is_kept_without_its_traceback_while_status_is_asked():
    """The policy keeps an OutcomeUnknown as a value while it polls ``status``; stopped during
    the poll, what escapes holds it in a local, and it must not lead back to the body."""
    def transport(body):
        try:
            raise OSError("reset")
        except OSError:
            raise OutcomeUnknown("connection", "lost after sending") from None

    def status_query(key):
        raise gevent.GreenletExit()   # the call is killed while the gateway is being asked

    answer, report = authorize(Scripted(send=transport, status=status_query))
    assert answer is None and "GreenletExit" in report
    assert "OutcomeUnknown" in report                    # the held one was looked into
    assert traces(report) == []


def test_a_status_query_that_fails_unexpectedly_keeps_the_outcome_unknown(caplog):
    caplog.set_level(logging.DEBUG)

    def transport(body):
        raise OutcomeUnknown("timeout", "no answer")

    answer, report = authorize(Scripted(send=transport, status=lambda key: {}["state"]))
    assert report == ""
    assert answer == GatewayError("timeout", True, "no answer")
    assert "status query failed: unexpected KeyError" in caplog.text


def test_status_alone_answers_internal_when_our_side_of_it_fails():
    gateway = Scripted(status=lambda key: [][1])
    found = gateway.status(KEY)
    assert found.kind == "internal" and found.outcome_unknown is True
    assert found.detail.startswith("unexpected IndexError at ")


@pytest.mark.parametrize("stop", ["GreenletExit", "KeyboardInterrupt"])
def test_what_stops_the_call_goes_on_without_the_frames_that_saw_the_card(stop):
    error = {"GreenletExit": gevent.GreenletExit, "KeyboardInterrupt": KeyboardInterrupt}[stop]

    def send(body):
        try:
            raise OSError("reading the answer to %r" % body)
        except OSError:
            raise error()      # raised while handling: chained to the OSError and its frame

    gateway = Scripted(send=send)
    answer, report = authorize(gateway)
    assert answer is None and stop in report
    assert traces(report) == []
    assert gateway.revealed[0].number is None


def test_a_timeout_goes_on_as_the_same_object_so_its_owner_knows_it():
    timeout = gevent.Timeout(5)    # not started: raised by hand, as if it had fired

    def send(body):
        raise timeout

    with pytest.raises(gevent.Timeout) as caught:
        Scripted(send=send).authorize(1250, "EUR", "order-1", traced_card(), KEY)
    assert caught.value is timeout
    assert traces(crash_report(caught.value)) == []


def test_arguments_wrong_before_any_call_still_raise():
    gateway = Scripted(send=lambda body: pytest.fail("nothing may be sent"))
    with pytest.raises(ValueError):
        gateway.authorize(1250, "EUR", "x" * 65, traced_card(), KEY)
    with pytest.raises(TypeError):
        gateway.authorize(Money(1250, "EUR"), None, "order-1", NUMBER, KEY)


def test_internal_is_a_kind_of_the_vocabulary():
    assert "internal" in GATEWAY_ERROR_KINDS
