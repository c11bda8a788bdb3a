"""The shipped card_payment flow's two optional questions, on the simulator with the sandbox
gateway: the confirmation before the charge (``pay_confirm=true``: 1 charges, 2 takes another
card, * cancels, no key or a wrong key asks again and then falls back, nothing charged; what
it says of the card is the last four only) and the survey after an approved payment
(``pay_survey=true``: a rating recorded with the payment on SQLite and PostgreSQL, published
once, counted; no key records nothing)."""
import json
import logging

import pytest

from orchestrator.payments.events import SurveyRated
from tests.support.canary import CODE, EXPIRY, PAN, traces
from tests.support.cards import CARD

PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-9",
           "pay_flow": "card_payment"}
QUESTION = "You are about to pay"
# prompts 1-2 say the amount due, 3-5 ask for the card; the question is prompts 6 to 13
# (its words, the amount, the last four and the two keys, each a prompt of its own)
QUESTION_PROMPTS = 8
AFTER_CARD = 5


def keying(number, first_prompt=3):
    return [{"wait_prompt": first_prompt}, {"press": number + "#"},
            {"wait_prompt": first_prompt + 1}, {"press": EXPIRY},
            {"wait_prompt": first_prompt + 2}, {"press": CODE}]


def answer(key, after_prompt):
    """Key ``key`` once the question that ends with prompt ``after_prompt`` has been said."""
    return [{"wait_prompt": after_prompt}, {"wait": 0.2}, {"press": key}]


def spoken(result):
    return [h.arg.split("|")[-1] if h.app == "speak" else h.arg for h in result.record.heard]


def said(result, text):
    return sum(1 for line in spoken(result) if text in line)


@pytest.fixture
def world(service_on_simulator, request):
    """The service with the shipped flows, on the store the test's ``store`` param names."""
    store = getattr(request, "param", "sqlite")
    config = {"http": {"enabled": True, "port": 0}}
    if store == "postgresql":
        config["store"] = {"url": request.getfixturevalue("postgres_schema").url}
    made = service_on_simulator(config, sandbox=True)
    made.events = made.record_payment_events()
    return made


def charged(world, result):
    return [p for p in world.service.store.list() if p["call_uuid"] == result.record.uuid]


# ---- the confirmation --------------------------------------------------------------------------

def test_one_confirms_and_the_card_is_charged(world, caplog):
    caplog.set_level(logging.DEBUG)
    end_of_question = AFTER_CARD + QUESTION_PROMPTS
    result = world.run_call(keying(PAN) + answer("1", end_of_question),
                            dict(PAYMENT, pay_confirm="true"), timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved" and len(world.sandbox.charges) == 1
    lines = spoken(result)
    at = lines.index(QUESTION)
    assert lines[at:at + QUESTION_PROMPTS] == [
        QUESTION, "12 euros and 50 cents", "with the card ending",
        "en NUMBER iterated FEMININE 1111", "To confirm, press", "en NUMBER iterated FEMININE 1",
        "To use another card, press", "en NUMBER iterated FEMININE 2"]
    assert said(result, "Please wait while we process your payment.") == 1
    assert result.outcome.result == "completed"
    for text in [caplog.text, json.dumps(lines), json.dumps(world.service.store.list())]:
        assert traces(text) == []


def test_the_question_holds_the_last_four_and_no_other_card_digit(world):
    """The canary: of the card, the question says 1111 and nothing else (no BIN, no expiry,
    no code, no run of the number)."""
    result = world.run_call(keying(PAN) + answer("1", AFTER_CARD + QUESTION_PROMPTS),
                            dict(PAYMENT, pay_confirm="true"), timeout=60)
    heard = [h for h in result.record.heard]
    at = [i for i, h in enumerate(heard) if h.arg.endswith(QUESTION)][0]
    question = " ".join(h.arg for h in heard[at:at + QUESTION_PROMPTS])
    assert traces(question) == []
    digits = [word for word in question.replace("|", " ").split() if any(c.isdigit() for c in word)]
    assert digits == ["12", "50", "1111", "1", "2"]   # 12 euros and 50 cents
    assert "411111" not in question and EXPIRY not in question and CODE not in question


def test_two_takes_another_card_and_charges_only_that_one(world):
    # question 6-13, "Let's try another card" 14, the card again at 15-17, the question 18-25
    caller = (keying(PAN) + answer("2", AFTER_CARD + QUESTION_PROMPTS)
              + keying(CARD["mastercard"], AFTER_CARD + QUESTION_PROMPTS + 2)
              + answer("1", AFTER_CARD + QUESTION_PROMPTS + 4 + QUESTION_PROMPTS))
    result = world.run_call(caller, dict(PAYMENT, pay_confirm="true"), timeout=90)
    [payment] = charged(world, result)
    assert payment["card"] == "555555******4444" and payment["status"] == "approved"
    assert len(world.sandbox.charges) == 1
    assert said(result, "Let's try another card.") == 1 and said(result, QUESTION) == 2
    assert "en NUMBER iterated FEMININE 4444" in spoken(result)


def test_two_then_hanging_up_charges_nothing(world):
    caller = keying(PAN) + answer("2", AFTER_CARD + QUESTION_PROMPTS) + [
        {"wait_prompt": AFTER_CARD + QUESTION_PROMPTS + 2}, {"hangup": {}}]
    result = world.run_call(caller, dict(PAYMENT, pay_confirm="true"), timeout=60)
    assert charged(world, result) == [] and world.sandbox.charges == []
    assert said(result, "Please wait while we process your payment.") == 0


def test_a_wrong_key_then_no_key_asks_again_then_falls_back_without_charging(world):
    caller = keying(PAN) + answer("9", AFTER_CARD + QUESTION_PROMPTS)
    result = world.run_call(caller, dict(PAYMENT, pay_confirm="true"), timeout=90)
    assert charged(world, result) == [] and world.sandbox.charges == []
    assert said(result, QUESTION) == 3            # max_attempts
    assert said(result, "That key is not one of the choices.") == 1
    assert said(result, "Sorry, I did not get that.") == 1
    assert said(result, "Please wait while we process your payment.") == 0
    assert result.outcome.step == "back_to_agent" and result.outcome.detail == "goodbye"


def test_a_wrong_key_then_one_asks_again_and_charges(world):
    second_question = AFTER_CARD + QUESTION_PROMPTS + 1 + QUESTION_PROMPTS
    caller = (keying(PAN) + answer("7", AFTER_CARD + QUESTION_PROMPTS)
              + answer("1", second_question))
    result = world.run_call(caller, dict(PAYMENT, pay_confirm="true"), timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved"
    assert said(result, QUESTION) == 2 and said(result, "That key is not one of the choices.") == 1


def test_star_cancels_and_charges_nothing(world):
    result = world.run_call(keying(PAN) + answer("*", AFTER_CARD + QUESTION_PROMPTS),
                            dict(PAYMENT, pay_confirm="true"), timeout=60)
    assert charged(world, result) == [] and world.sandbox.charges == []
    assert said(result, "The payment has been cancelled.") == 1


def test_without_pay_confirm_nothing_is_asked(world):
    result = world.run_call(keying(PAN), dict(PAYMENT, pay_confirm="no"), timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved" and said(result, QUESTION) == 0
    unset = world.run_call(keying(PAN), PAYMENT, timeout=60)
    assert said(unset, QUESTION) == 0 and charged(world, unset)[0]["status"] == "approved"


# ---- the survey ------------------------------------------------------------------------------

SURVEY = "Please rate this call, from 1 for poor to 5 for excellent."
# after the card (5): processing 6, approved 7-11, the survey question 12
SURVEY_PROMPT = AFTER_CARD + 1 + 5 + 1


@pytest.mark.parametrize("world", ["sqlite", "postgresql"], indirect=True)
def test_a_rating_is_recorded_with_the_payment_published_and_counted(world):
    before = world.metric("payivr_survey_ratings_total", tenant="default", rating="4")
    result = world.run_call(keying(PAN) + answer("4", SURVEY_PROMPT),
                            dict(PAYMENT, pay_survey="true"), timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved" and payment["survey_rating"] == 4
    assert world.service.store.get(payment["id"])["survey_rating"] == 4
    assert [e for e in world.events if isinstance(e, SurveyRated)] == [
        SurveyRated(payment_id=payment["id"], rating=4)]
    assert world.metric("payivr_survey_ratings_total", tenant="default", rating="4") == before + 1
    assert said(result, "Thank you for your rating.") == 1
    assert said(result, SURVEY) == 1


def test_no_key_records_no_rating_and_the_call_goes_on(world):
    result = world.run_call(keying(PAN), dict(PAYMENT, pay_survey="true"), timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved" and payment["survey_rating"] is None
    assert [e for e in world.events if isinstance(e, SurveyRated)] == []
    for rating in "12345":
        assert world.metric("payivr_survey_ratings_total", tenant="default", rating=rating) == 0
    assert said(result, SURVEY) == 1 and said(result, "Thank you for your rating.") == 0
    assert result.outcome.result == "completed" and said(result, "Goodbye") == 1


def test_a_key_that_is_no_rating_asks_again(world):
    caller = keying(PAN) + answer("8", SURVEY_PROMPT) + answer("5", SURVEY_PROMPT + 2)
    result = world.run_call(caller, dict(PAYMENT, pay_survey="true"), timeout=60)
    [payment] = charged(world, result)
    assert payment["survey_rating"] == 5
    assert said(result, SURVEY) == 2 and said(result, "That key is not one of the choices.") == 1
    assert world.metric("payivr_survey_ratings_total", tenant="default", rating="5") == 1


def test_without_pay_survey_nothing_is_asked(world):
    result = world.run_call(keying(PAN), PAYMENT, timeout=60)
    assert said(result, SURVEY) == 0 and charged(world, result)[0]["survey_rating"] is None


def test_both_questions_on_one_call(world):
    survey_prompt = SURVEY_PROMPT + QUESTION_PROMPTS
    caller = (keying(PAN) + answer("1", AFTER_CARD + QUESTION_PROMPTS)
              + answer("3", survey_prompt))
    result = world.run_call(caller, dict(PAYMENT, pay_confirm="true", pay_survey="true"),
                            timeout=60)
    [payment] = charged(world, result)
    assert payment["status"] == "approved" and payment["survey_rating"] == 3
