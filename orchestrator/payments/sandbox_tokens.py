"""The sandbox gateway's stored cards: tokens it issues, charges under them, and deletions.

As a gateway's vault does: it keeps the card it was given under a token of its own (here:
only brand, BIN, last four and expiry, since the sandbox charges nothing real) and answers a
later charge that names the token instead of a card. A token it never issued, or one deleted,
is refused (422 ``unknown_token``) and nothing is charged. Tokenizing (storing without a
charge) verifies the card as an authorization would (a test card that declines declines) and
charges nothing; it is idempotent on the key: the same key gives the same token.

  POST   /v1/tokens                {"idempotency_key", "reference", "card": {...}}
         -> 200 {"status": "stored", "card_token": {"id", "brand", "last4", "expiry_month",
            "expiry_year"}, "card": {brand, bin, last4}}  or  200 {"status": "declined", ...}
  DELETE /v1/tokens/<token>        -> 200 {"status": "deleted"}, or 404
  POST   /v1/authorizations with "store_card": true: an approval carries "card_token"
  POST   /v1/authorizations with "card_token": "<token>" and no card: a charge of the stored card

``tokenizations`` lists each tokenize request answered (masked), ``tokens`` what is kept.
"""
import logging
import secrets
from typing import Any, Dict, List, Optional, Tuple

from . import sandbox_cards as cards
from .brands import brand_of
from .validation import CardError, validate_number

log = logging.getLogger(__name__)
Answer = Tuple[int, Dict[str, Any]]


class SandboxTokens:
    def __init__(self) -> None:
        self.tokens: Dict[str, Dict[str, Any]] = {}      # token -> masked card, deleted flag
        self.tokenizations: List[Dict[str, Any]] = []    # what each tokenize answered
        self._by_key: Dict[str, Answer] = {}

    def issue(self, masked: Dict[str, Any], expiry_month: str, expiry_year: str) -> Dict[str, Any]:
        """Keep a card under a new token; the token as an answer shows it."""
        token = "tok_" + secrets.token_hex(12)
        self.tokens[token] = {"card": dict(masked), "expiry_month": expiry_month,
                              "expiry_year": expiry_year, "deleted": False}
        log.info("sandbox token issued for %s ...%s", masked["brand"], masked["last4"])
        return self.shown(token)

    def shown(self, token: str) -> Dict[str, Any]:
        kept = self.tokens[token]
        return {"id": token, "brand": kept["card"]["brand"], "last4": kept["card"]["last4"],
                "expiry_month": kept["expiry_month"], "expiry_year": kept["expiry_year"]}

    def card_of(self, token: object) -> Optional[Dict[str, Any]]:
        """The masked card a live token stands for; None for one unknown or deleted."""
        kept = self.tokens.get(token) if isinstance(token, str) else None
        if kept is None or kept["deleted"]:
            return None
        return dict(kept["card"])

    def delete(self, token: str) -> Answer:
        kept = self.tokens.get(token)
        if kept is None or kept["deleted"]:
            return 404, {"error": "unknown_token"}
        kept["deleted"] = True
        log.info("sandbox token deleted")
        return 200, {"status": "deleted"}

    def tokenize(self, request: Dict[str, Any]) -> Answer:
        """Verify the card and keep it under a token; nothing is charged."""
        try:
            key = request["idempotency_key"]
            card = request["card"]
            number, month, year = card["number"], card["expiry_month"], card["expiry_year"]
        except (KeyError, TypeError):
            return 400, {"error": "malformed_request"}
        if not isinstance(key, str) or not 8 <= len(key) <= 64:
            return 400, {"error": "bad_idempotency_key"}
        if key in self._by_key:
            return self._by_key[key]
        try:
            validate_number(number)
        except CardError as error:
            return 422, {"error": error.error_type}
        behaviour = cards.behaviour_of(number)
        masked = {"brand": brand_of(number), "bin": number[:6], "last4": number[-4:]}
        del number, card
        if behaviour.acquirer == cards.DECLINE:
            reason = behaviour.decline_reason
            answer: Answer = (200, {"status": "declined", "idempotency_key": key,
                                    "reason_code": reason, "card": masked})
        else:
            answer = (200, {"status": "stored", "idempotency_key": key, "card": masked,
                            "card_token": self.issue(masked, str(month), str(year))})
        self._by_key[key] = answer
        self.tokenizations.append({"idempotency_key": key, "status": answer[1]["status"],
                                   "card": masked})
        return answer
