"""A whole card payment flow as text, and the caller's steps to key a card into it: shared by
the payment flow tests that vary one part of it (its language, a step before it)."""

FLOW = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - announce: amount_due
  - id: card
    collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      on: {declined: declined, error: unconfirmed}
  - announce: payment_approved
  - goto: out
  - id: declined
    announce: payment_declined
  - branch: {if: "${attempts.card} < 2", then: card}
  - goto: out
  - id: unconfirmed
    announce: payment_unconfirmed
  - id: out
    transfer_back: {to: agent, otherwise: goodbye}
"""


def card(number, expiry="1230", code="737", first_prompt=3):
    """The caller's steps: key number, expiry and code, the number at prompt ``first_prompt``."""
    return [{"wait_prompt": first_prompt}, {"press": number + "#"},
            {"wait_prompt": first_prompt + 1}, {"press": expiry},
            {"wait_prompt": first_prompt + 2}, {"press": code}]
