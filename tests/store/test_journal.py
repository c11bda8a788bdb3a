"""The journal's confirmation codes: recorded with their payment, digits only."""
import pytest

from orchestrator.store import PaymentStore, StoreError
from tests.support.cards import make_card


def test_a_confirmation_code_is_recorded_with_its_payment_and_only_digits(tmp_path):
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    payment = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key="k-c",
                          summary=make_card().summary, number=store.next_number())
    assert store.get(payment)["confirmation_code"] is None
    store.confirm(payment, "048213")
    assert store.get(payment)["confirmation_code"] == "048213"
    for bad in ("4111111111111111", "12a456", "", "123"):
        with pytest.raises(StoreError):
            store.confirm(payment, bad)
    with pytest.raises(StoreError):
        store.confirm("no-such-payment", "123456")
    store.close()
