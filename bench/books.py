"""The books check of the fault bench: what the gateway truly charged against what the store says.

The sandbox gateway keeps the truth (every charge, reversed or not, with its key and the run's
reference); the payment store keeps what the service wrote down. After the last reconciliation
they must agree exactly:

- every standing charge has an ``approved`` record under its key with its authorization code,
  and every ``approved`` record has its standing charge: charges per approved record 1.000;
- no run (one intended payment, one reference) is charged twice: no double charges;
- no record hides a charge: none says not charged (``error``, ``declined``) or is missing
  while a charge stands under its key;
- no caller heard "approved" for a payment not recorded approved, nor "declined" while charged;
- nothing is left flagged or pending.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping

APPROVED_WORDS = "Your payment has been approved"
DECLINED_WORDS = "your payment was declined"
UNCONFIRMED_WORDS = "We could not confirm your payment"


@dataclass
class Books:
    charges: int = 0                 # every charge the gateway made
    standing: int = 0                # of them, not reversed by a cancel
    reversed: int = 0
    approved: int = 0                # approved records
    double_charges: int = 0          # runs (references) charged more than once
    hidden_charges: int = 0          # standing charges whose record says not charged, or is missing
    approved_not_charged: int = 0    # approved records without their standing charge
    told_wrong: int = 0              # callers told approved/declined against the books
    still_flagged: int = 0           # records needing reconciliation after the last one
    still_pending: int = 0
    statuses: Counter = field(default_factory=Counter)
    problems: List[str] = field(default_factory=list)

    @property
    def charges_per_approved(self) -> float:
        if not self.approved:
            return float("inf") if self.standing else 1.0
        return self.standing / self.approved

    @property
    def exact(self) -> bool:
        return (self.standing == self.approved and not self.double_charges
                and not self.hidden_charges and not self.approved_not_charged
                and not self.told_wrong and not self.still_flagged and not self.still_pending)


def audit(charges: Iterable[Mapping[str, Any]], records: Iterable[Mapping[str, Any]],
          heard_by_reference: Mapping[str, List[str]]) -> Books:
    """Compare the gateway's charges with the store's records (both lists of dicts, as
    ``SandboxGateway.charges`` and ``PaymentStore.list()`` give them); ``heard_by_reference``:
    what each run's caller heard, by the run's reference."""
    books = Books()
    charges, records = list(charges), list(records)
    by_key: Dict[str, Mapping[str, Any]] = {r["idempotency_key"]: r for r in records}
    standing_by_key: Dict[str, List[Mapping[str, Any]]] = {}
    standing_by_reference: Counter = Counter()
    books.charges = len(charges)
    for charge in charges:
        if charge["reversed"]:
            books.reversed += 1
            continue
        books.standing += 1
        standing_by_key.setdefault(charge["idempotency_key"], []).append(charge)
        standing_by_reference[charge["reference"]] += 1
    books.double_charges = sum(1 for n in standing_by_reference.values() if n > 1) + \
        sum(1 for found in standing_by_key.values() if len(found) > 1)
    for key, found in standing_by_key.items():
        row = by_key.get(key)
        if row is None or row["status"] in ("error", "declined"):
            books.hidden_charges += 1
            books.problems.append("charge %s stands, record %s" % (
                key, "missing" if row is None else row["status"]))
    for row in records:
        books.statuses[row["status"]] += 1
        books.still_flagged += 1 if row["needs_reconciliation"] else 0
        books.still_pending += 1 if row["status"] == "pending" else 0
        if row["status"] != "approved":
            continue
        books.approved += 1
        found = standing_by_key.get(row["idempotency_key"], [])
        if not found or found[0]["auth_code"] != row["auth_code"]:
            books.approved_not_charged += 1
            books.problems.append("record %s approved (%s) without its charge"
                                  % (row["id"], row["auth_code"]))
    charged_references = set(standing_by_reference)
    approved_references = {r["reference"] for r in records if r["status"] == "approved"}
    for reference, heard in heard_by_reference.items():
        text = " ".join(heard)
        if APPROVED_WORDS in text and reference not in approved_references:
            books.told_wrong += 1
            books.problems.append("run %s heard approved, not recorded approved" % reference)
        if DECLINED_WORDS in text and reference in charged_references:
            books.told_wrong += 1
            books.problems.append("run %s heard declined while charged" % reference)
    return books


def what_was_heard(heard: List[str]) -> str:
    """How a run's call ended for its caller, for the bench's table."""
    text = " ".join(heard)
    for words, name in ((APPROVED_WORDS, "approved"), (DECLINED_WORDS, "declined"),
                        (UNCONFIRMED_WORDS, "unconfirmed")):
        if words in text:
            return name
    return "no result"
