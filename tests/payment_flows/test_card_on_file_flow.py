"""Card on file in a flow on a simulated call, against the sandbox gateway: the card kept
besides the charge and charged again later in the same call by our id (no card entry), kept
instead of a charge (nothing charged), and an id that is no stored card refused."""
from orchestrator.callbacks.bodies import payment_event
from orchestrator.payments.events import PaymentCardStored
from orchestrator.store.card_tokens import CardTokenTable
from tests.support.cards import CARD
from tests.support.payment_flow import card

STORE_THEN_CHARGE = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      store_card: %s
      customer: CUST-9
      on: {declined: out, error: out}
  - authorize:
      gateway: sandbox
      amount: "700"
      card_token: "%s"
      on: {declined: out, error: out}
  - id: out
    hangup: {}
"""


STORE_ONLY = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      store_card: instead
      customer: CUST-9
      on: {declined: out, error: out}
  - id: out
    transfer_back: {to: goodbye}
"""


def test_a_card_kept_besides_the_charge_is_charged_again_by_its_id(pay):
    run = pay(STORE_THEN_CHARGE % ("besides", "${payment.card_token_id}"), card(CARD["visa"], first_prompt=1))
    assert [(p["status"], p["amount_minor"], p["card"]) for p in run.payments] == [
        ("approved", 1250, "411111******1111"), ("approved", 700, "************1111")]
    assert [c["amount"] for c in run.charges] == [1250, 700]
    [kept] = CardTokenTable(run.world.service.store).of_customer("default", "CUST-9")
    assert (kept["brand"], kept["last4"], kept["payment_id"]) == ("visa", "1111", run.payments[0]["id"])
    # told once, as the tenant's callbacks hear it: our id, masked, never the gateway's token
    [stored] = run.kinds(PaymentCardStored)
    assert payment_event(stored) == ("payment.card_stored", {
        "card_token_id": kept["id"], "gateway": "sandbox", "brand": "visa", "last4": "1111",
        "customer": "CUST-9", "payment_id": run.payments[0]["id"]})
    assert kept["gateway_token"] not in repr(run.events)


def test_a_card_kept_instead_of_a_charge_charges_nothing(pay):
    # no amount at all: the flow sets none
    run = pay(STORE_ONLY, card(CARD["mastercard"], first_prompt=1),
              variables={"pay_amount": "", "pay_currency": ""})
    assert run.payments == [] and run.world.sandbox.charges == []
    [kept] = CardTokenTable(run.world.service.store).of_customer("default", "CUST-9")
    assert (kept["brand"], kept["last4"]) == ("mastercard", "4444")
    [done] = run.world.sandbox.vault.tokenizations
    assert done["status"] == "stored"
    # left for the dialplan: our id of the card, no amount, no charge
    assert run.record.variables["pay_card_token_id"] == kept["id"]
    assert run.record.variables["pay_result"] == "stored"
    [stored] = run.kinds(PaymentCardStored)
    assert (stored.card_token_id, stored.payment_id) == (kept["id"], "")


def test_an_id_that_is_no_stored_card_charges_nothing(pay):
    run = pay(STORE_THEN_CHARGE % ("besides", "card_abcdefghijklmnopqrstuvwxyz"),
              card(CARD["visa"], first_prompt=1))
    assert [p["amount_minor"] for p in run.payments] == [1250]
    assert [c["amount"] for c in run.charges] == [1250]


CHARGE_STORED = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - authorize:
      gateway: sandbox
      card_token: ${channel.pay_card_id}
      on: {declined: out, error: failed}
  - announce: payment_approved
  - goto: out
  - id: failed
    announce: payment_unconfirmed
  - id: out
    hangup: {}
"""


def charge_stored_card(service_on_simulator, owner):
    """A card kept by the sandbox and recorded for tenant ``owner``, then charged by its id on
    a call of the tenant ``default``, with no card entry: (payments, charges, heard)."""
    from orchestrator.engine import FlowLibrary, load_flow
    from tests.support.cards import make_card
    flow = load_flow(CHARGE_STORED, source_name="test.yaml")
    world = service_on_simulator({"flows": {"default": flow.name}}, sandbox=True,
                                 library=FlowLibrary({flow.name: flow}))
    try:
        store, gateway = world.service.store, world.service.gateways["sandbox"]
        token = gateway.tokenize(make_card(CARD["visa"]), "verify", "tok-00000001").token
        row = CardTokenTable(store).add(tenant=owner, customer="CUST-1", gateway="sandbox",
                                        token=token)
        call = world.place([{"wait_prompt": 1}], {"pay_amount": "1250", "pay_currency": "EUR",
                                                  "pay_reference": "INV-7", "pay_card_id": row["id"]})
        result = world.finish(call, 60)
        payments = [p for p in store.list() if p["call_uuid"] == result.record.uuid]
        return payments, world.sandbox.charges, [h.arg for h in result.record.heard]
    finally:
        world.stop()


def test_the_tenants_stored_card_is_charged_with_no_card_entry(service_on_simulator):
    payments, charges, heard = charge_stored_card(service_on_simulator, "default")
    assert [(p["status"], p["amount_minor"], p["card"]) for p in payments] == [
        ("approved", 1250, "************1111")]
    assert [(c["amount"], c["card"]["last4"]) for c in charges] == [(1250, "1111")]


def test_another_tenants_stored_card_is_not_found_and_nothing_is_charged(service_on_simulator):
    payments, charges, heard = charge_stored_card(service_on_simulator, "acme")
    assert payments == [] and charges == []
