"""Payment links in the journal: a payment to be made outside the call, and the token naming it.

``send_payment_link`` records the payment (status ``link_sent``, no card: the caller pays on
the gateway's page) and its token in one transaction, before the link is made or texted, so
a webhook never finds a token the journal does not know. The gateway's webhook
(``links/webhook.py``) finds the payment by its token and settles it with
``PaymentStore.finish(..., from_status="link_sent")``: once, whatever repeats arrive.

A token is 32 random letters (``secrets``, about 180 bits): unguessable, and never a digit,
so a URL that carries it cannot look like a card number.
"""
import secrets
import string
import time
import uuid as uuidlib
from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

from orchestrator import payment_details

from .backend import Transaction
from .errors import StoreError
from .journal import PaymentRow, PaymentStore

TOKEN_LETTERS = string.ascii_letters
TOKEN_LENGTH = 32
LINK_SENT = "link_sent"
# a link payment's idempotency key: "link:<payment id>" (no gateway key: reconcile skips it)
LINK_KEY_PREFIX = "link:"


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_LETTERS) for _ in range(TOKEN_LENGTH))


def is_token(value: object) -> bool:
    return (isinstance(value, str) and len(value) == TOKEN_LENGTH
            and all(ch in TOKEN_LETTERS for ch in value))


@dataclass(frozen=True)
class LinkedPayment:
    token: str
    link: str            # the payment_links entry that made it
    expires: float
    payment: PaymentRow


class PaymentLinks:
    """The link tokens of the journal ``store`` (either backend)."""

    def __init__(self, store: PaymentStore) -> None:
        self.store = store

    def record(self, *, token: str, link: str, amount_minor: int, currency: str, expires: float,
               reference: str = "", tenant: str = "default", call_uuid: str = "", flow: str = "",
               details: Optional[Mapping[str, str]] = None) -> str:
        """Record a payment to be made by link and its token; returns the payment's id.
        StoreError when the token is not one (``new_token``), the details break a rule, or
        the store fails."""
        if not is_token(token):
            raise StoreError("a payment link token is %d letters" % TOKEN_LENGTH)
        try:
            stored_details = payment_details.dumps(details) if details else None
        except payment_details.DetailsError as error:
            raise StoreError("payment not recorded: %s" % error) from None
        payment_id, now = str(uuidlib.uuid4()), time.time()
        row = dict(id=payment_id, created=now, updated=now, call_uuid=call_uuid, tenant=tenant,
                   flow=flow, reference=reference, amount_minor=int(amount_minor),
                   currency=currency, gateway=link, idempotency_key=LINK_KEY_PREFIX + payment_id,
                   status=LINK_SENT, details=stored_details)
        insert = "INSERT INTO payments (%s) VALUES (%s)" % (", ".join(row), ", ".join("?" for _ in row))

        def write(tx: Transaction) -> None:
            if tx.execute("SELECT 1 FROM payments WHERE id = ?", (payment_id,)):
                return   # run again after a lost connection: already written
            tx.execute(insert, list(row.values()))
            tx.execute("INSERT INTO payment_links (token, payment_id, link, created, expires) "
                       "VALUES (?, ?, ?, ?, ?)", (token, payment_id, link, now, float(expires)))
        self.store.backend.run(write)
        return payment_id

    def find(self, token: str) -> Optional[LinkedPayment]:
        """The payment a token names, or None (an unknown token, or not a token at all)."""
        if not is_token(token):
            return None
        rows = self.store.backend.run(lambda tx: tx.execute(
            "SELECT link, expires, payment_id FROM payment_links WHERE token = ?", (token,)))
        if not rows:
            return None
        link, expires, payment_id = rows[0]
        payment = self.store.get(str(payment_id))
        if payment is None:   # pragma: no cover - written in one transaction with its link
            return None
        return LinkedPayment(token, str(link), float(expires), payment)

    def expired(self, now: float) -> List[str]:
        """The ids of the ``link_sent`` payments whose link expired before ``now``."""
        return [payment_id for payment_id, _ in self.expired_payments(now)]

    def expired_payments(self, now: float, limit: Optional[int] = None) -> List[Tuple[str, str]]:
        """``(payment id, tenant)`` of the ``link_sent`` payments whose link expired before
        ``now``, the first to expire first (the ``limit`` first, when given)."""
        query = ("SELECT p.id, p.tenant FROM payments p JOIN payment_links l "
                 "ON l.payment_id = p.id WHERE p.status = ? AND l.expires < ? ORDER BY l.expires")
        values: List[object] = [LINK_SENT, now]
        if limit is not None:
            query += " LIMIT ?"
            values.append(int(limit))
        rows = self.store.backend.run(lambda tx: tx.execute(query, values))
        return [(str(row[0]), str(row[1])) for row in rows]


__all__ = ["LINK_KEY_PREFIX", "LINK_SENT", "LinkedPayment", "PaymentLinks", "is_token", "new_token"]
