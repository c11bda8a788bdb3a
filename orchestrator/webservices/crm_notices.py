"""The sandbox CRM as a status callback receiver: told of each payment, it reactivates once.

The service sends every payment's status callbacks (``orchestrator/callbacks``) to
``POST /callbacks/payments``. The CRM checks the signature (``payments/signing.py``: HMAC over
the timestamp and the exact body, a stale timestamp refused) and, for an approved
``payment.result`` that names what it paid (``data.details``: ``customer`` and ``invoices``,
as the collections flows attach them), marks those invoices paid and reactivates the lines
that hold them. Other callbacks (a field started, a card sent) are answered 200 and ignored.

Delivery is at least once: the same event is sent again after a 503, a timeout, or a 2xx the
sender never saw. So the CRM remembers what it did twice over, by ``event_id`` (a re-sent
body) and by ``payment_id`` (another event about the same payment, a reconciled result):
either seen, it answers 200 and reactivates nothing. Each reactivation is kept in
``reactivations`` (what tests and the demo read); ``answered`` keeps every callback's
type, event id and HTTP status.

A real CRM would drop the invoices it marked paid from its next answers; this one keeps
answering the same invoices, so the demo's calls (several for one customer, at once) stay
repeatable. The faults a test asks for, each about the next ``payment.result`` callbacks (the
progress events around them are answered as usual): ``fail_results`` (statuses to answer
before doing anything: an outage behind a load balancer) and ``lose_results`` (how many to
process, then answer 503: a 2xx lost on the way back).
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .. import bounded_json, payment_details
from ..payments import signing

ROUTE = "/callbacks/payments"
MAX_BODY = 65536                 # the sender's default max_body: no body it sends is longer
REMEMBERED = 100000              # event and payment ids kept for de-duplication, oldest dropped

Answer = Tuple[str, Dict[str, Any]]


class PaymentNotices:
    def __init__(self, customers: List[Dict[str, Any]], secret: Optional[str],
                 remembered: int = REMEMBERED) -> None:
        self.customers, self.secret, self.remembered = customers, secret, remembered
        self.reactivations: List[Dict[str, Any]] = []
        self.answered: List[Dict[str, Any]] = []
        self.paid: Dict[str, str] = {}              # invoice number -> payment id
        self.reactivated_lines: Dict[str, str] = {}  # line number -> payment id
        self.fail_results: List[int] = []
        self.lose_results = 0
        self._events: "OrderedDict[str, None]" = OrderedDict()
        self._payments: "OrderedDict[str, None]" = OrderedDict()
        self._lock = threading.Lock()

    def reactivations_of(self, payment_id: str) -> List[Dict[str, Any]]:
        return [done for done in self.reactivations if done["payment_id"] == payment_id]

    def handle(self, environ: Mapping[str, Any]) -> Answer:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return "413 Payload Too Large", {"error": "too_large"}
        body = environ["wsgi.input"].read(length)
        if not self.secret or not signing.verify(self.secret, environ.get("HTTP_X_TIMESTAMP"),
                                                 environ.get("HTTP_X_SIGNATURE"), body):
            return self._note(None, None, "401 Unauthorized", {"error": "bad_signature"})
        try:
            event = bounded_json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
            return self._note(None, None, "400 Bad Request", {"error": "not_a_callback"})
        type_, event_id = str(event.get("type")), event["event_id"]
        result = type_ == "payment.result"
        with self._lock:
            if result and self.fail_results:
                status = self.fail_results.pop(0)
                return self._note(type_, event_id, "%d Unavailable" % status, {"error": "unavailable"})
            answer = self._take(event)
            if result and self.lose_results:
                self.lose_results -= 1
                return self._note(type_, event_id, "503 Service Unavailable", {"error": "lost"})
        return self._note(type_, event_id, "200 OK", answer)

    def _take(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """What the CRM does with one signed callback (under the lock)."""
        data: Dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        if event["event_id"] in self._events:
            return {"duplicate": "event"}
        self._remember(self._events, event["event_id"])
        if event.get("type") != "payment.result" or data.get("status") != "approved":
            return {"ignored": True}
        payment_id = str(data.get("payment_id"))
        if payment_id in self._payments:
            return {"duplicate": "payment"}
        try:
            details = payment_details.check(data.get("details") or {})
        except payment_details.DetailsError:
            return {"ignored": True, "why": "details withheld"}
        customer = self._customer(details.get("customer") or str(data.get("reference") or ""))
        invoices = [n for n in details.get("invoices", "").split(",") if n]
        if customer is None or not invoices:
            return {"ignored": True, "why": "no customer or invoices named"}
        self._remember(self._payments, payment_id)
        lines = []
        for line in customer["lines"]:
            held = [i["number"] for i in line["invoices"] if i["number"] in invoices]
            if held:
                self.reactivated_lines[line["number"]] = payment_id
                lines.append(line["number"])
        for number in invoices:
            self.paid[number] = payment_id
        done = {"payment_id": payment_id, "event_id": event["event_id"],
                "customer": customer["id"], "invoices": invoices, "lines": lines,
                "amount_minor": data.get("amount_minor"), "currency": data.get("currency")}
        self.reactivations.append(done)
        return {"reactivated": lines}

    def _customer(self, customer_id: str) -> Optional[Dict[str, Any]]:
        return next((c for c in self.customers if c["id"] == customer_id), None)

    def _remember(self, seen: "OrderedDict[str, None]", key: str) -> None:
        seen[key] = None
        while len(seen) > self.remembered:
            seen.popitem(last=False)

    def _note(self, type_: Optional[str], event_id: Optional[str], status: str,
              answer: Dict[str, Any]) -> Answer:
        self.answered.append({"type": type_, "event_id": event_id, "status": int(status[:3]),
                              "answer": json.loads(json.dumps(answer))})
        return status, answer
