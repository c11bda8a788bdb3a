"""Every name a flow uses, looked up in what will exist when it runs (engine/names.py).

Each test writes a flow with one wrong name and asserts the exact file:line:column and message
``validate`` gives, against the built-in defaults (the shipped catalogs and what ``simulate``
runs a flow with) or against names given by hand.
"""
import os

from orchestrator.engine import validate_paths
from orchestrator.engine.languages import flow_languages
from orchestrator.engine.names import Available, CatalogNames, check_names
from orchestrator.engine.validate import check_text
from orchestrator.flow_names import builtin_defaults

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EN = os.path.join("orchestrator", "catalog", "en.yaml")
ES = os.path.join("orchestrator", "catalog", "es.yaml")


def validate(tmp_path, text, available=None):
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    cwd = os.getcwd()
    os.chdir(ROOT)           # catalogs are shown relative to the working folder
    try:
        return validate_paths([str(path)], available or builtin_defaults()), str(path)
    finally:
        os.chdir(cwd)


def test_a_typo_in_an_announce_prompt_fails_with_a_did_you_mean(tmp_path):
    (code, lines), path = validate(tmp_path, "flow: f\nsteps:\n  - answer: {}\n"
                                             "  - announce: payment_aproved\n")
    assert code == 1
    assert lines == ["%s:4:15: announce: no prompt 'payment_aproved' in the en catalog (%s) "
                     "(did you mean 'payment_approved'?)" % (path, EN)]


def test_the_same_flow_with_the_key_right_passes(tmp_path):
    (code, lines), path = validate(tmp_path, "flow: f\nsteps:\n  - answer: {}\n"
                                             "  - announce: payment_approved\n")
    assert (code, lines) == (0, ["%s: OK" % path])


def test_a_key_is_looked_up_in_the_language_the_step_speaks(tmp_path):
    # list.item exists in en and es: a key only one catalog lacks is named for that one
    hand = Available("the test", {
        "en": CatalogNames("en", "en.yaml", frozenset({"goodbye"}), frozenset()),
        "es": CatalogNames("es", "es.yaml", frozenset({"adios"}), frozenset())}, "catalogs")
    (code, lines), path = validate(tmp_path, "flow: f\nlanguage: en\nsteps:\n"
                                             "  - announce: {prompt: goodbye, language: es}\n", hand)
    assert code == 1
    assert lines == ["%s:4:24: announce: no prompt 'goodbye' in the es catalog (es.yaml); "
                     "prompts: adios" % path]


def test_a_language_chosen_on_the_call_is_checked_in_every_catalog_it_may_be(tmp_path):
    hand = Available("the test", {
        "en": CatalogNames("en", "en.yaml", frozenset({"goodbye"}), frozenset()),
        "es": CatalogNames("es", "es.yaml", frozenset({"goodby"}), frozenset())}, "catalogs")
    text = ("flow: f\nvars: {lang: es}\nsteps:\n"
            "  - announce: {prompt: goodbye, language: \"${lang}\"}\n")
    (code, lines), path = validate(tmp_path, text, hand)
    assert code == 1
    assert lines == ["%s:4:24: announce: no prompt 'goodbye' in the es catalog (es.yaml) (the "
                     "language ${lang} may be es on the call) (did you mean 'goodby'?)" % path]
    result = check_text(text, "f.yaml")
    assert flow_languages(result.document, result.steps, ["en", "es"]) == ["en", "es"]


def test_a_language_without_a_catalog_fails_at_its_line(tmp_path):
    (code, lines), path = validate(tmp_path, "flow: f\nlanguage: es-ES\nsteps:\n"
                                             "  - announce: payment_approved\n")
    assert code == 1
    assert lines == ["%s:2:11: the flow speaks es-ES, but there is no catalog for it in %s "
                     "(did you mean 'es'?)" % (path, os.path.join("orchestrator", "catalog"))]


def test_a_languages_list_refuses_a_flow_in_another(tmp_path):
    defaults = builtin_defaults()
    only_es = Available("c.yaml", defaults.catalogs, "catalogs", frozenset({"es"}))
    (code, lines), path = validate(tmp_path, "flow: f\nlanguage: en\nsteps:\n  - answer: {}\n",
                                   only_es)
    assert lines == ["%s:2:11: the flow speaks en, which prompts.languages of c.yaml does not "
                     "list (es)" % path]


def test_collect_card_says_catalog_keys_a_catalog_may_lack(tmp_path):
    hand = Available("the test", {"en": CatalogNames(
        "en", "mine/en.yaml", frozenset({"card.number", "card.expiry", "error.input-timeout",
                                         "error.invalid-card-number", "error.invalid-card-type"}),
        frozenset())}, "mine")
    text = ("flow: f\nsteps:\n  - collect_card:\n      fields: [number, expiry]\n"
            "      max_attempts: 2\n")
    (code, lines), path = validate(tmp_path, text, hand)
    assert code == 1
    assert lines == ["%s:4:24: collect_card: no prompt 'error.invalid-date' in the en catalog "
                     "(mine/en.yaml) (did you mean 'error.invalid-card-type'?)" % path]
    # one attempt: no error is ever said, so the catalog needs only the questions
    (code, _), _ = validate(tmp_path, text.replace("max_attempts: 2", "max_attempts: 1"), hand)
    assert code == 0
    # a field whose every prompt the flow overrides says nothing from the catalog
    overridden = text + "      prompts: [{for: expiry, text: Expiry please}]\n"
    (code, _), _ = validate(tmp_path, overridden, hand)
    assert code == 0


def test_a_gateway_web_service_sms_provider_and_link_are_looked_up(tmp_path):
    text = ("flow: f\nvars: {amount: '100', currency: EUR, reference: r}\nsteps:\n"
            "  - call_service: {service: crn, on: {error: done, timeout: done}}\n"
            "  - collect_card: {}\n"
            "  - authorize: {gateway: sandbx, on: {declined: done, error: done}}\n"
            "  - send_sms: {provider: smss, on: {error: done, timeout: done}}\n"
            "  - send_payment_link: {link: paylnk, provider: sms}\n"
            "  - id: done\n    hangup: {}\n")
    (code, lines), path = validate(tmp_path, text)
    assert code == 1
    assert lines == [
        "%s:4:29: call_service: web service 'crn' is not in the built-in defaults "
        "(web_services: crm) (did you mean 'crm'?)" % path,
        "%s:6:26: authorize: gateway 'sandbx' is not in the built-in defaults "
        "(gateways: sandbox) (did you mean 'sandbox'?)" % path,
        "%s:7:26: send_sms: SMS provider 'smss' is not in the built-in defaults "
        "(sms_providers: sms) (did you mean 'sms'?)" % path,
        "%s:8:5: warning: send_payment_link has no 'on: {error: <step id>}' branch: the step "
        "would end the flow with an error, and the call in the dialplan's fallback instead of a "
        "branch of this flow" % path,
        "%s:8:31: send_payment_link: payment link 'paylnk' is not in the built-in defaults "
        "(payment_links: paylink) (did you mean 'paylink'?)" % path]


def test_a_missing_link_with_an_error_branch_is_a_warning(tmp_path):
    text = ("flow: f\nvars: {amount: '100', currency: EUR, reference: r}\nsteps:\n"
            "  - send_payment_link: {link: other, provider: sms, on: {error: done}}\n"
            "  - id: done\n    hangup: {}\n")
    (code, lines), path = validate(tmp_path, text)
    assert code == 0
    assert lines == ["%s:4:31: warning: send_payment_link: payment link 'other' is not in the "
                     "built-in defaults (payment_links: paylink); a caller who chooses it takes "
                     "the on.error branch" % path, "%s: OK (1 warning)" % path]


def test_an_sms_message_key_is_looked_up_in_the_catalogs_messages(tmp_path):
    text = ("flow: f\nvars: {amount: '100', currency: EUR}\nsteps:\n"
            "  - send_sms: {provider: sms, message: payment_confirmd, on: {error: done, timeout: done}}\n"
            "  - id: done\n    hangup: {}\n")
    (code, lines), path = validate(tmp_path, text)
    assert lines == ["%s:4:40: send_sms: no message 'payment_confirmd' in the en catalog (%s) "
                     "(did you mean 'payment_confirmed'?)" % (path, EN)]


def test_every_shipped_flow_passes_against_the_defaults():
    code, lines = validate_paths([os.path.join(ROOT, "flows")], builtin_defaults())
    assert code == 0, lines


def test_a_malformed_flow_is_not_also_judged_on_its_names():
    result = check_text("flow: f\nsteps:\n  - announce: {prompt: nope, bogus: 1}\n", "f.yaml")
    assert result.problems   # the unknown key; the prompt is not looked up on top of it
    assert check_names(result, builtin_defaults()) == []


def test_the_defaults_are_what_simulate_runs_a_flow_with():
    """``validate`` without --config stands for ``simulate``: the same gateway, web service,
    SMS provider and payment link names as the dry run's service holds."""
    from orchestrator.dry_run import DryRun
    from orchestrator.engine import FlowLibrary

    defaults = builtin_defaults()
    with DryRun(FlowLibrary({})) as dry:
        service = dry.service
        assert set(service.gateways) == defaults.gateways
        assert set(service.web_services) == defaults.web_services
        assert set(service.sms_providers) == defaults.sms_providers
        assert set(service.payment_links) == defaults.payment_links


def test_a_default_language_without_a_catalog_fails_at_its_line(tmp_path):
    (code, lines), path = validate(tmp_path, "flow: f\nlanguage: ${channel.pay_language}\n"
                                             "default_language: sp\nsteps: [{answer: {}}]\n")
    assert code == 1
    assert lines == ["%s:3:19: the flow's default_language speaks sp, but there is no catalog "
                     "for it in %s; catalogs: en, es, ru"
                     % (path, os.path.join("orchestrator", "catalog"))]
