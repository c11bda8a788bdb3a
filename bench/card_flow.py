"""The card-paying flow the benches run: the amount announced, the card keyed once, the sandbox
gateway, then a goodbye whatever the outcome (an unconfirmed payment told as such). One flow for
every bench, so their figures come from the same calls; each bench names it after itself."""

CARD_FLOW = """\
flow: {name}
language: en
vars:
  amount: ${{channel.pay_amount}}
  currency: ${{channel.pay_currency}}
  reference: ${{channel.pay_reference}}
steps:
  - answer: {{}}
  - announce: amount_due
  - collect_card:
      max_attempts: 1
      on: {{cancelled: bye, too-many-failed-attempts: bye}}
  - authorize:
      gateway: sandbox
      on: {{declined: declined, error: unconfirmed}}
  - announce: payment_approved
  - goto: bye
  - id: declined
    announce: payment_declined
  - goto: bye
  - id: unconfirmed
    announce: payment_unconfirmed
  - id: bye
    hangup: {{}}
"""


def card_flow(name: str) -> str:
    """The flow's YAML, named ``name`` (the flow file is ``<name>.yaml``)."""
    return CARD_FLOW.format(name=name)


def keying_steps(number: str, expiry: str = "1230", security_code: str = "737",
                 spacing: float = 0.05) -> list:
    """A caller's script steps keying the card over this flow: the amount takes the first two
    prompts, so the number waits for the third, the expiry the fourth, the code the fifth."""
    return [{"wait_prompt": 3}, {"press": number + "#", "spacing": spacing},
            {"wait_prompt": 4}, {"press": expiry, "spacing": spacing},
            {"wait_prompt": 5}, {"press": security_code, "spacing": spacing}]
