"""The agent API's stored-card routes: a customer's cards on file, and deleting one.

    GET    /api/v1/customers/{id}/cards   the tenant's live cards for a customer reference
    DELETE /api/v1/cards/{id}             forget a card: our record, and the gateway's token
                                          when the gateway can delete one

Cards are shown masked (brand, last four, expiry month and year, our id, when kept), never the
gateway's token. Another tenant's card or customer is "not found", as one that never was.
Deleting needs a token that may refund (``refund: true``): it changes what can be charged.
Every request is an audit line (``cards`` and ``card_delete``) naming the card.
"""
from typing import Any, Dict, Mapping, Tuple

from orchestrator.store.card_tokens import CardTokenTable, shown
from orchestrator.store.errors import StoreError

Answer = Tuple[int, Dict[str, Any]]


class CardRoutes:
    """Held by ``AgentApi`` (``api.cards``) when the service has a store."""

    def __init__(self, store: Any, gateways: Mapping[str, Any]) -> None:
        self.table = CardTokenTable(store)
        self.gateways = gateways

    def of_customer(self, principal: Any, entry: Any, customer: str) -> Answer:
        from .api import ApiError
        try:
            rows = self.table.of_customer(principal.tenant, customer)
        except StoreError:
            raise ApiError(400, "invalid", "a customer reference is 1 to 64 letters, digits or "
                           "_ . : @ / # -", "id") from None
        entry.detail = "customer=%s cards=%d" % (customer, len(rows))
        return 200, {"customer": customer, "cards": [shown(row) for row in rows]}

    def delete(self, principal: Any, entry: Any, card_id: str) -> Answer:
        from .api import ApiError
        if not principal.refund:
            raise ApiError(403, "forbidden", "this token may not delete stored cards "
                           "(refund: true on the token in the config)")
        entry.detail = "card=%s" % card_id[:64]
        row = self.table.delete(principal.tenant, card_id, by=principal.agent or "tenant")
        if row is None:
            raise ApiError(404, "card_not_found", "no such stored card")
        gateway = self.gateways.get(row["gateway"])
        forgotten = bool(gateway is not None and gateway.delete_token(row["gateway_token"]))
        return 200, {"deleted": shown(row), "gateway_deleted": forgotten}
