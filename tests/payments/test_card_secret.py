"""The secret type: no way of turning it into text or bytes shows a digit it holds."""
import copy
import io
import json
import logging
import pickle

import gevent
import pytest

from orchestrator.payments.card import (
    CardData, CardError, CardSummary, CardWiped, RevealedCard, json_default,
)
from tests.support.cards import TODAY, make_card

NUMBER = "4111111111111111"
MIDDLE = NUMBER[6:12]


def _renderings(card):
    return [repr(card), str(card), format(card), f"{card}", f"{card!r}", f"{card:>40}",
            "%s" % card, "%r" % (card,), "{}".format(card), str([card]), str({"c": card})]


def _no_secret(text, number=NUMBER, code="123", expiry="1230"):
    assert number not in text
    assert MIDDLE not in text
    assert code not in text.replace("411111", "")
    assert expiry not in text


def test_every_text_form_is_masked():
    card = make_card()
    for text in _renderings(card):
        _no_secret(text)
    assert str(card) == "visa 411111******1111"
    assert "visa 411111******1111" in repr(card)


def test_displayable_values():
    card = make_card(postal="28001")
    assert (card.brand, card.bin, card.last4) == ("visa", "411111", "1111")
    assert card.masked == "visa 411111******1111"
    assert card.has_number and card.has_expiry and card.has_security_code and card.has_postal_code
    assert card.masked_fields() == {"number": "visa 411111******1111", "expiry": "**/**",
                                    "security_code": "***", "postal_code": "*****"}
    assert card.summary == CardSummary("visa", "411111", "1111", "visa 411111******1111")


def test_short_numbers_show_only_the_last_four():
    card = CardData(today=TODAY)
    card.set_number("36227206271667")     # 14-digit diners
    assert card.masked == "diners **********1667"
    assert "362272" not in repr(card)


def test_logging_through_a_real_handler_is_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test.payments.secret")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    card = make_card()
    try:
        logger.info("card %s", card)
        logger.info("card %r", card)
        logger.info(card)
        logger.info("fields %s", {"card": card})
        try:
            raise ValueError(card)
        except ValueError:
            logger.exception("failed with %s", card)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert output.count("411111******1111") >= 5
    _no_secret(output)


def test_pickle_and_copy_are_refused():
    card = make_card()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(card, protocol=protocol)
    with pytest.raises(TypeError):
        copy.copy(card)
    with pytest.raises(TypeError):
        copy.deepcopy(card)
    with pytest.raises(TypeError):
        copy.deepcopy({"card": card})


def test_json():
    card = make_card()
    with pytest.raises(TypeError) as caught:
        json.dumps({"card": card})
    _no_secret(str(caught.value))
    assert json.loads(json.dumps({"card": card}, default=json_default)) == {
        "card": "visa 411111******1111"}
    assert json.loads(json.dumps(card, default=str)) == "visa 411111******1111"
    assert json.loads(json.dumps(card.summary, default=json_default)) == {
        "brand": "visa", "bin": "411111", "last4": "1111"}


def test_equality_is_identity_and_hash_is_by_id():
    first, second = make_card(), make_card()
    assert first == first and first != second and not (first == second)
    assert hash(first) == id(first) and hash(first) != hash(second)
    assert len({first, second}) == 2
    assert first != NUMBER and NUMBER not in {first: 1}


def test_no_attribute_dict_and_no_subclassing():
    card = make_card()
    with pytest.raises(TypeError):
        vars(card)
    _no_secret(repr(card._number))
    with pytest.raises(TypeError):
        class Leaky(CardData):
            def __repr__(self):
                return "leak"


def test_reveal_gives_digits_only_inside_the_block():
    card = make_card(postal="sw1a 1aa")
    with card.reveal() as digits:
        assert digits.number == NUMBER
        assert (digits.expiry_month, digits.expiry_year) == ("12", "2030")
        assert digits.expiry_mmyy == "1230" and digits.expiry_yymm == "3012"
        assert digits.security_code == "123" and digits.postal_code == "SW1A 1AA"
        assert NUMBER not in repr(digits) and NUMBER not in str(digits)
        with pytest.raises(TypeError):
            pickle.dumps(digits)
    assert digits.number is None and digits.security_code is None


@pytest.mark.parametrize("error", [RuntimeError("connector bug"), RecursionError(),
                                   MemoryError(), KeyboardInterrupt(), gevent.GreenletExit()],
                         ids=lambda error: type(error).__name__)
def test_reveal_clears_the_digits_when_the_block_raises(error):
    card = make_card(postal="28001")
    with pytest.raises(type(error)):
        with card.reveal() as digits:
            assert digits.number == NUMBER
            raise error
    assert [getattr(digits, name) for name in RevealedCard.__slots__] == [None] * 5


def test_reveal_needs_number_and_expiry():
    card = CardData(today=TODAY)
    card.set_number(NUMBER)
    with pytest.raises(CardError):
        with card.reveal():
            pass


def test_wipe_zeroes_the_buffers_and_every_accessor_raises():
    card = make_card(postal="28001")
    buffers = [card._number._buffer, card._expiry._buffer, card._code._buffer,
               card._postal._buffer]
    summary = card.summary
    card.wipe()
    assert card.wiped
    assert all(b and not any(b) for b in buffers)
    for accessor in ("brand", "bin", "last4", "masked", "summary", "has_number",
                     "has_security_code"):
        with pytest.raises(CardWiped):
            getattr(card, accessor)
    for call in (card.masked_fields, lambda: card.set_number(NUMBER),
                 lambda: card.set_expiry("1230"), lambda: card.set_security_code("123")):
        with pytest.raises(CardWiped):
            call()
    with pytest.raises(CardWiped):
        with card.reveal():
            pass
    assert repr(card) == str(card) == "<CardData wiped>"
    card.wipe()   # idempotent
    assert summary.last4 == "1111"   # the displayable summary outlives the wipe


def test_zeroing_really_overwrites_the_bytes():
    card = make_card()
    buffer = card._number._buffer
    view = bytes(buffer)
    assert view == NUMBER.encode()
    card.wipe()
    assert bytes(buffer) == bytes(len(NUMBER))


def test_setters_validate_with_brands_and_date():
    card = CardData(valid_brands=["visa"], today=TODAY)
    with pytest.raises(CardError) as caught:
        card.set_number("378282246310005")
    assert caught.value.error_type == "invalid-card-type"
    with pytest.raises(CardError) as caught:
        card.set_expiry("0525")
    assert caught.value.error_type == "invalid-date"
    amex = CardData(today=lambda: TODAY)
    amex.set_number("378282246310005")
    with pytest.raises(CardError) as caught:
        amex.set_security_code("123")
    assert caught.value.error_type == "invalid-security-code"
    amex.set_security_code("1234")
    assert amex.has_security_code


def test_a_code_keyed_before_the_number_is_rechecked():
    card = CardData(today=TODAY)
    card.set_security_code("123")
    card.set_number("378282246310005")    # amex needs four digits
    assert not card.has_security_code
