"""The caller's own language on a simulated card payment: from the dialplan (pay_language), from
a language menu, or set by a step; prompts, say, the TTS voice and the catalog follow it, and a
language without a catalog falls back to the flow's default instead of failing card entry."""
import logging

from tests.support.cards import CARD
from tests.support.payment_flow import FLOW, card

BY_CHANNEL = FLOW.replace("flow: t\n", "flow: t\nlanguage: ${channel.pay_language}\ndefault_language: en\n")
MENU = FLOW.replace("  - answer: {}\n", "  - answer: {}\n  - choose_language: [en, es, ru]\n")
RU_NUMBER = "say:Введите номер карты и нажмите решётку."


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_pay_language_from_the_dialplan_speaks_russian_through_card_entry(pay):
    run = pay(BY_CHANNEL, card(CARD["visa"]), variables={"pay_language": "ru", "pay_agent": "2001"})
    assert run.outcome.result == "transferred" and [p["status"] for p in run.payments] == ["approved"]
    assert run.heard[:3] == ["tts_commandline|ru|Сумма к оплате:",
                             "tts_commandline|ru|12 евро 50 центов", RU_NUMBER]
    assert "tts_commandline|ru|Спасибо. Ваш платёж одобрен." in run.heard
    assert "ru NUMBER iterated MASCULINE 1111" in run.heard
    # the card-entry script's say: prompt speaks with the Russian voice, not the service's flite
    assert (run.record.variables["tts_engine"], run.record.variables["tts_voice"]) == \
        ("tts_commandline", "ru")


def test_an_unknown_pay_language_falls_back_to_the_default_with_a_warning(pay, caplog):
    caplog.set_level(logging.INFO)
    run = pay(BY_CHANNEL, card(CARD["visa"]), variables={"pay_language": "xx", "pay_agent": "2001"})
    assert [p["status"] for p in run.payments] == ["approved"]      # card entry did not fail
    assert run.heard[1] == "flite|kal|12 euros and 50 cents"
    assert any(h.startswith("say:Please enter your card number") for h in run.heard)
    said = [w for w in warnings(caplog) if "no prompt catalog" in w]
    assert said == ["the flow's language is 'xx', which has no prompt catalog; speaking en"]


def test_no_pay_language_is_the_default_without_a_warning(pay, caplog):
    caplog.set_level(logging.INFO)
    run = pay(BY_CHANNEL, card(CARD["visa"]), variables={"pay_agent": "2001"})
    assert [p["status"] for p in run.payments] == ["approved"]
    assert run.heard[1] == "flite|kal|12 euros and 50 cents"
    assert not [w for w in warnings(caplog) if "language" in w]


def test_the_menu_offers_each_language_in_its_own_voice_and_the_choice_holds(pay):
    # the menu: en, es, ru offers (text + key each); the caller keys 3 during the second
    run = pay(MENU, [{"wait_prompt": 2}, {"press": "3"}] + card(CARD["visa"], first_prompt=5),
              variables={"pay_agent": "2001"})
    assert [p["status"] for p in run.payments] == ["approved"]
    assert run.heard[:2] == ["flite|kal|For English, press", "en NUMBER iterated FEMININE 1"]
    assert run.heard[2:5] == ["tts_commandline|ru|Сумма к оплате:",
                              "tts_commandline|ru|12 евро 50 центов", RU_NUMBER]


def test_the_whole_menu_is_heard_when_nobody_keys_and_the_call_keeps_its_language(pay):
    run = pay(MENU, card(CARD["visa"], first_prompt=15), variables={"pay_agent": "2001"})
    menu = ["flite|kal|For English, press", "en NUMBER iterated FEMININE 1",
            "tts_commandline|es|Para español, pulse", "es NUMBER iterated FEMININE 2",
            "tts_commandline|ru|Для русского языка нажмите", "ru NUMBER iterated MASCULINE 3"]
    assert run.heard[:12] == menu * 2                 # max_attempts: 2
    assert run.heard[12:14] == ["flite|kal|The amount due is", "flite|kal|12 euros and 50 cents"]
    assert [p["status"] for p in run.payments] == ["approved"]


def test_a_declined_card_in_spanish_says_and_hands_back_the_same_words(pay):
    text = FLOW.replace("  - answer: {}\n", "  - answer: {}\n  - set: {language: es}\n")
    run = pay(text, card("4000000000009995"), variables={"pay_agent": "2001"})
    assert run.payments[0]["status"] == "declined"
    words = "La tarjeta no tiene saldo suficiente."
    assert "tts_commandline|es|" + words in run.heard
    assert run.record.variables["pay_decline_reason"] == words
    assert run.payments[0]["decline_reason"] == "The card has insufficient funds."   # the record: en


def test_a_step_setting_a_language_without_a_catalog_keeps_card_entry_going(pay, caplog):
    caplog.set_level(logging.INFO)
    text = FLOW.replace("  - answer: {}\n", "  - answer: {}\n  - set: {language: \"${channel.pay_menu}\"}\n")
    run = pay(text, card(CARD["visa"]), variables={"pay_menu": "../catalog/es", "pay_agent": "2001"})
    assert [p["status"] for p in run.payments] == ["approved"]
    assert run.heard[1] == "flite|kal|12 euros and 50 cents"
    # never a path to another file (../catalog/es.yaml is there); warned once, not per prompt
    assert [w for w in warnings(caplog) if "no prompt catalog" in w] == [
        "the variable 'language' is a value of 13 characters that is not a language code, which "
        "has no prompt catalog; speaking en"]
