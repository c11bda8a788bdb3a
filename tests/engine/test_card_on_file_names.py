"""``validate`` and card on file: a flow's ``store_card`` or ``card_token`` on a gateway whose
type cannot do it is refused at the key's file:line:column; the built-in sandbox can; a
config's gateways are judged by their type and settings (``registry.card_on_file_modes``)."""
import dataclasses
import os

from orchestrator.engine import validate_paths
from orchestrator.flow_names import builtin_defaults
from orchestrator.payments.gateways.registry import card_on_file_modes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLOW = ("flow: f\nvars: {amount: '100', currency: EUR, reference: r}\nsteps:\n"
        "  - collect_card: {}\n"
        "  - authorize: {gateway: %s, store_card: besides, customer: C-1, "
        "on: {declined: done, error: done}}\n"
        "  - authorize: {gateway: %s, card_token: '${payment.card_token_id}', "
        "on: {declined: done, error: done}}\n"
        "  - id: done\n    hangup: {}\n")


def validate(tmp_path, text, available=None):
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    cwd = os.getcwd()
    os.chdir(ROOT)           # catalogs are shown relative to the working folder
    try:
        return validate_paths([str(path)], available or builtin_defaults()), str(path)
    finally:
        os.chdir(cwd)


def with_gateway(name, modes):
    defaults = builtin_defaults()
    return dataclasses.replace(defaults, gateways=defaults.gateways | {name},
                               card_on_file={"sandbox": defaults.card_on_file["sandbox"],
                                             name: frozenset(modes)})


def test_the_sandbox_stores_and_charges_stored_cards(tmp_path):
    (code, lines), path = validate(tmp_path, FLOW % ("sandbox", "sandbox"))
    assert (code, lines) == (0, ["%s: OK" % path])


def test_a_gateway_that_cannot_is_refused_where_each_mode_is_asked(tmp_path):
    (code, lines), path = validate(tmp_path, FLOW % ("plain", "plain"),
                                   with_gateway("plain", ()))
    assert code == 1
    assert lines == [
        "%s:5:45: authorize: gateway 'plain' cannot store a card besides a charge (card on "
        "file it offers: none; see orchestrator/payments/README.md, Card on file)" % path,
        "%s:6:45: authorize: gateway 'plain' cannot charge a stored card (card on file it "
        "offers: none; see orchestrator/payments/README.md, Card on file)" % path]


def test_store_card_without_a_customer_is_refused(tmp_path):
    text = FLOW.replace(", customer: C-1", "") % ("sandbox", "sandbox")
    (code, lines), path = validate(tmp_path, text)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("%s:5:" % path) and "store_card needs customer" in lines[0]


def test_what_each_configured_type_offers():
    assert card_on_file_modes({"type": "sandbox", "url": "x"}) == ("besides", "instead", "charge")
    assert card_on_file_modes({"type": "http", "url": "x"}) == ()
    assert card_on_file_modes({"type": "http", "card_on_file": True}) == ("besides", "charge")
    assert card_on_file_modes({"type": "http", "card_on_file": True, "tokenize_url": "x"}) == \
        ("besides", "charge", "instead")
    assert card_on_file_modes({"type": "redsys"}) == ()
    assert card_on_file_modes({"type": "redsys", "card_on_file": True}) == \
        ("besides", "instead", "charge")
