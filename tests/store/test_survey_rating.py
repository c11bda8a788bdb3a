"""The survey rating kept with its payment, on SQLite and on PostgreSQL alike: 1 to 5 only,
nothing until the caller gave one, and kept when the store is opened again."""
import pytest

from orchestrator.store import StoreError, open_store
from tests.support.cards import make_card


def test_a_rating_is_recorded_with_its_payment_and_only_one_to_five(store_location):
    store = open_store(store_location)
    payment = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox",
                          idempotency_key="k-survey", summary=make_card().summary,
                          number=store.next_number())
    other = store.begin(amount_minor=900, currency="EUR", gateway="sandbox",
                        idempotency_key="k-other", summary=make_card().summary,
                        number=store.next_number())
    assert store.get(payment)["survey_rating"] is None
    store.rate(payment, 4)
    for bad in (0, 6, -1, "4", 4.5, True, None):
        with pytest.raises(StoreError):
            store.rate(payment, bad)
    with pytest.raises(StoreError):
        store.rate("no-such-payment", 3)
    store.close()
    reopened = open_store(store_location)
    assert reopened.get(payment)["survey_rating"] == 4
    assert reopened.get(other)["survey_rating"] is None
    reopened.close()
