"""``choose_from_list``: read a list to the caller (invoices), take their choice by key, total it.

The list is one a step filled (``call_service`` with a ``[*]`` path: ``<list>.count`` and
``<list>.<n>.<member>``). Each item is read in the flow's language from the catalog
(``list.item``: its number, spelled, and its amount; ``list.item.due``: its due date, when the
item has one; ``list.item.press``: the key that picks it, 1 to 9), then, with more than one
item, ``list.all``: the total and the key that picks every item (``all_key``). The caller may
key at any moment (barge-in); a key that picks nothing is an invalid entry, retried.

The amounts are integer minor units (``payments/money.py``): the total is their exact sum,
never a float, and must itself be an amount a card can be charged. An item whose amount is not
whole minor units above zero, whose due date is not YYYY-MM-DD, or a list longer than nine
items (one key each) takes ``on.error``; an empty list ``on.empty``. What the caller hears of
an item is typed: its number spelled character by character, its amount and date through the
say module, so a CRM's text is never spoken as it came (``esl/channel.py`` neutralises it too).

Sets ``<into>.amount`` (minor units: the item's, or the total), ``<into>.count`` (items
chosen), ``<into>.items`` (their positions, ``1,3``), ``<into>.numbers`` (their numbers, comma
separated: a payment reference) and ``<into>.key``. Then ``authorize`` charges
``amount: ${<into>.amount}``.
"""
from typing import TYPE_CHECKING, Dict, List

from ...catalog import CatalogError
from ...payments.money import Money, MoneyError
from ..ids import VARIABLE_NAME_PATTERN
from ..prompts import play_prompts, say_date
from ..step_api import StepError, StepKind, StepResult, continue_on, on_jump_targets, on_schema, register
from ..prompts import catalog_renderer

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

MAX_ITEMS = 9
MEMBER = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$",
          "patternErrorMessage": "is not a member name"}


@register
class ChooseFromList(StepKind):
    name = "choose_from_list"
    title = "Choose from a list"
    description = ("Reads each item of a list (number, amount, due date) in the caller's language, takes the "
                   "caller's key for one item or all of them, and sets the amount chosen in minor units.")
    schema = {
        "type": "object",
        "properties": {
            "list": {"type": "string", "pattern": VARIABLE_NAME_PATTERN, "patternErrorMessage": "is not a variable name",
                     "description": "A list a step filled (call_service map with [*])."},
            "into": {"type": "string", "pattern": VARIABLE_NAME_PATTERN, "default": "chosen",
                     "patternErrorMessage": "is not a variable name",
                     "description": "Prefix of the variables set: <into>.amount, .count, .items, .numbers, .key."},
            "number": dict(MEMBER, default="number", description="The member said as the item's number."),
            "amount": dict(MEMBER, default="amount", description="The member holding the amount in minor units."),
            "due": dict(MEMBER, description="The member holding a due date (YYYY-MM-DD), said when present."),
            "currency": {"type": "string", "default": "${currency}", "description": "ISO 4217 code of every amount."},
            "all_key": {"type": "string", "pattern": "^[0#]?$", "default": "0",
                        "patternErrorMessage": "must be 0 or # (1-9 pick items), or empty for no 'all'",
                        "description": "The key that picks every item; empty to offer none."},
            "first_digit_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                                    "description": "Seconds to wait for the key after the list."},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3,
                             "description": "Times the list is read before on.too-many-failed-attempts."},
            "language": {"type": "string", "description": "Overrides the call's language."},
            "on": on_schema({"empty": "The list has no item.",
                             "error": "An item cannot be said or charged, or the list is longer than nine.",
                             "cancelled": "The caller pressed *.",
                             "too-many-failed-attempts": "No key, or keys that pick nothing, every time."}),
        },
        "required": ["list"],
        "additionalProperties": False,
    }
    example = {"list": "invoices", "due": "due",
               "on": {"empty": "nothing_due", "too-many-failed-attempts": "agent"}}

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def defined_variables(cls, config):
        return ["%s.%s" % (config["into"], name) for name in ("amount", "count", "items", "numbers", "key")]

    @classmethod
    def variables_read(cls, config):
        return [(("list",), config["list"] + ".count")]

    @classmethod
    def catalog_keys(cls, config):
        keys = ["list.item", "list.item.press", "list.all", "list.empty", "list.chosen"]
        if config.get("due"):
            keys.insert(1, "list.item.due")
        return [((), "prompts", key) for key in keys]

    def run(self, ctx: "FlowContext") -> StepResult:
        config = self.config
        items = self._items(ctx)
        if items is None:
            return continue_on("choose_from_list", config, "error")
        if not items:
            self._play(ctx, [("list.empty", {})])
            return continue_on("choose_from_list", config, "empty")
        currency = items[0]["money"].currency
        try:
            total = Money.parse(sum(item["money"].minor for item in items), currency)
        except MoneyError as exc:
            ctx.log.warning("choose_from_list %s: the total cannot be charged: %s", config["list"], exc)
            return continue_on("choose_from_list", config, "error")
        all_key = config["all_key"] if len(items) > 1 else ""
        prompts = self._listing(ctx, items, total, all_key)
        keys = {str(position): [item] for position, item in enumerate(items, start=1)}
        if all_key:
            keys[all_key] = items
        for attempt in range(1, config["max_attempts"] + 1):
            result = ctx.channel.collect_digits(prompts=prompts, min_digits=1, max_digits=1, terminators="",
                                                first_digit_timeout=config["first_digit_timeout"],
                                                inter_digit_timeout=1, cancel_key="*")
            if result.status == "cancelled":
                return continue_on("choose_from_list", config, "cancelled")
            if result.status == "ok" and result.digits in keys:
                self._chosen(ctx, result.digits, keys[result.digits], currency)
                return None
            ctx.log.info("choose_from_list %s: attempt %d of %d %s", config["list"], attempt,
                         config["max_attempts"], "timed out" if result.status == "timeout" else "picked nothing")
        return continue_on("choose_from_list", config, "too-many-failed-attempts")

    def _items(self, ctx: "FlowContext"):
        """Each item's position, number, Money and due date (Unix time), checked; None when one
        cannot be said or charged (logged, without its values)."""
        config, variables, name = self.config, ctx.variables, self.config["list"]
        try:
            count = int(ctx.resolve(name + ".count"))
        except ValueError:
            raise StepError("choose_from_list: %s.count is not a number" % name)
        if count > MAX_ITEMS:
            ctx.log.warning("choose_from_list %s: %d items, more than the %d keys can pick", name, count, MAX_ITEMS)
            return None
        currency = ctx.render(config["currency"])
        items = []
        for position in range(1, count + 1):
            prefix = "%s.%d." % (name, position)
            try:
                money = Money.parse(variables.get(prefix + config["amount"], ""), currency)
                due = variables.get(prefix + config["due"], "") if "due" in config else ""
                items.append({"position": position, "number": variables.get(prefix + config["number"], ""),
                              "money": money, "due": say_date(due) if due else ""})
            except (MoneyError, StepError) as exc:
                ctx.log.warning("choose_from_list %s: item %d cannot be offered: %s", name, position,
                                type(exc).__name__ if isinstance(exc, MoneyError) else exc)
                return None
        return items

    def _listing(self, ctx: "FlowContext", items: List[Dict], total: Money, all_key: str):
        said = []
        for item in items:
            said.append(("list.item", {"number": item["number"], "amount": item["money"].major_text,
                                       "currency": item["money"].currency}))
            if item["due"]:
                said.append(("list.item.due", {"due": item["due"]}))
            said.append(("list.item.press", {"press": str(item["position"])}))
        if all_key:
            said.append(("list.all", {"amount": total.major_text, "currency": total.currency,
                                      "press": all_key}))
        return self._render(ctx, said)

    def _render(self, ctx: "FlowContext", said):
        try:
            renderer = catalog_renderer(ctx, self.config.get("language"))
            return [prompt for key, params in said for prompt in renderer.prompts(key, **params)]
        except CatalogError as exc:
            raise StepError("choose_from_list: %s" % exc)

    def _play(self, ctx: "FlowContext", said) -> None:
        play_prompts(ctx, self._render(ctx, said))

    def _chosen(self, ctx: "FlowContext", key: str, chosen: List[Dict], currency: str) -> None:
        into = self.config["into"]
        amount = Money.parse(sum(item["money"].minor for item in chosen), currency)
        ctx.variables.update({
            into + ".amount": str(amount.minor), into + ".count": str(len(chosen)),
            into + ".items": ",".join(str(item["position"]) for item in chosen),
            into + ".numbers": ",".join(item["number"] for item in chosen), into + ".key": key})
        self._play(ctx, [("list.chosen", {"amount": amount.major_text, "currency": amount.currency})])
