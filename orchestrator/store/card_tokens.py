"""Cards on file: one row per card a gateway keeps for us, tenant-scoped.

A row holds our id (what a flow and an agent name the card by), the gateway's token (what a
later charge sends; never shown), the gateway's network reference for merchant-initiated
charges when it gives one, and what may be shown: brand, last four, expiry month and year.
Never a card number or a security code: ``add`` refuses a token that looks like one and a
last four that is not four digits.

Every read names the tenant: another tenant's id is "not found", the same answer as an id
that never was, so ids cannot be probed across tenants. A deleted card keeps its row
(``deleted``, ``deleted_by``) for the audit trail and is "not found" from then on.
"""
import re
import secrets
import string
import time
from typing import List, Optional, Sequence, TypedDict, cast

from ..payments.gateways.tokens import CardToken, usable_token
from .backend import Transaction
from .errors import StoreError
from .journal import PaymentStore

COLUMNS = ("id", "tenant", "customer", "gateway", "gateway_token", "network_reference", "brand",
           "last4", "expiry_month", "expiry_year", "payment_id", "created", "deleted",
           "deleted_by")
SHOWN = ("id", "customer", "gateway", "brand", "last4", "expiry_month", "expiry_year", "created")
# a customer reference: the flow's or the CRM's id of the payer, never a card number
CUSTOMER = re.compile(r"^[A-Za-z0-9_.:@/#-]{1,64}$")
_CARD_LIKE = re.compile(r"\d{13,}")


class CardTokenRow(TypedDict):
    id: str
    tenant: str
    customer: str
    gateway: str
    gateway_token: str
    network_reference: Optional[str]
    brand: str
    last4: str
    expiry_month: str
    expiry_year: str
    payment_id: Optional[str]
    created: float
    deleted: Optional[float]
    deleted_by: Optional[str]


def new_card_id() -> str:
    """Our id of a stored card: ``card_`` and 26 random lower-case letters (122 bits). No
    digits, so no run of them that a callback body or a session record would withhold as
    possibly part of a card number."""
    return "card_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(26))


def check_customer(customer: object) -> str:
    """The customer reference, or StoreError: 1 to 64 id characters, no card-length digit run."""
    text = str(customer or "")
    if not CUSTOMER.match(text) or _CARD_LIKE.search(text):
        raise StoreError("a customer reference is 1 to 64 letters, digits or _ . : @ / # - "
                         "(no run of 13 digits or more)")
    return text


def shown(row: CardTokenRow) -> dict:
    """What an agent is shown of a stored card: masked, no token."""
    return {key: row[key] for key in SHOWN}  # type: ignore[literal-required]


class CardTokenTable:
    def __init__(self, store: PaymentStore) -> None:
        self.backend = store.backend

    def add(self, *, tenant: str, customer: str, gateway: str, token: CardToken,
            payment_id: str = "") -> CardTokenRow:
        """Keep a card the gateway stored; returns its row (its ``id`` is ours)."""
        if not usable_token(token.gateway_token) or not re.fullmatch(r"[0-9]{4}", token.last4):
            raise StoreError("a stored card keeps the gateway's token and the last four only")
        row = dict(id=new_card_id(), tenant=tenant, customer=check_customer(customer),
                   gateway=gateway, gateway_token=token.gateway_token,
                   network_reference=token.network_reference or None, brand=token.brand,
                   last4=token.last4, expiry_month=token.expiry_month,
                   expiry_year=token.expiry_year, payment_id=payment_id or None,
                   created=time.time(), deleted=None, deleted_by=None)
        self.backend.run(lambda tx: tx.execute("INSERT INTO card_tokens (%s) VALUES (%s)" % (
            ", ".join(row), ", ".join("?" for _ in row)), list(row.values())))
        return cast(CardTokenRow, row)

    def get(self, tenant: str, card_id: str) -> Optional[CardTokenRow]:
        """The tenant's live card ``card_id``; None when unknown, deleted or another's."""
        rows = self.backend.run(lambda tx: _select(
            tx, "WHERE id = ? AND tenant = ? AND deleted IS NULL", (str(card_id), tenant)))
        return rows[0] if rows else None

    def of_customer(self, tenant: str, customer: str) -> List[CardTokenRow]:
        """The tenant's live cards for a customer reference, oldest first."""
        return self.backend.run(lambda tx: _select(
            tx, "WHERE tenant = ? AND customer = ? AND deleted IS NULL ORDER BY created",
            (tenant, check_customer(customer))))

    def delete(self, tenant: str, card_id: str, by: str = "") -> Optional[CardTokenRow]:
        """Mark the tenant's card deleted; the row as it was, or None when there was none."""
        def work(tx: Transaction) -> Optional[CardTokenRow]:
            rows = _select(tx, "WHERE id = ? AND tenant = ? AND deleted IS NULL",
                           (str(card_id), tenant))
            if not rows:
                return None
            tx.execute("UPDATE card_tokens SET deleted = ?, deleted_by = ? WHERE id = ? "
                       "AND deleted IS NULL", (time.time(), by[:64] or None, str(card_id)))
            return rows[0] if tx.rowcount == 1 else None
        return self.backend.run(work)


def _select(tx: Transaction, tail: str, args: Sequence[object]) -> List[CardTokenRow]:
    rows = tx.execute("SELECT %s FROM card_tokens %s" % (", ".join(COLUMNS), tail), list(args))
    return [cast(CardTokenRow, dict(zip(COLUMNS, row))) for row in rows]
