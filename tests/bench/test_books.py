"""The fault bench's books check: it finds each way the books can be wrong (so that its
"exact" means something), and passes books that agree."""
from bench.books import APPROVED_WORDS, DECLINED_WORDS, audit


def charge(key, reference, auth_code="A1", reversed_=False):
    return {"idempotency_key": key, "reference": reference, "auth_code": auth_code,
            "reversed": reversed_}


def record(key, reference, status, auth_code=None, flagged=0):
    return {"id": "p-" + key, "idempotency_key": key, "reference": reference, "status": status,
            "auth_code": auth_code, "needs_reconciliation": flagged}


def test_books_that_agree_are_exact():
    books = audit([charge("k1", "R1"), charge("k2", "R2", "B2", reversed_=True)],
                  [record("k1", "R1", "approved", "A1"), record("k2", "R2", "error"),
                   record("k3", "R3", "declined")],
                  {"R1": [APPROVED_WORDS], "R3": [DECLINED_WORDS]})
    assert books.exact and books.charges_per_approved == 1.0
    assert (books.charges, books.standing, books.reversed, books.approved) == (2, 1, 1, 1)


def test_a_charge_under_a_record_that_says_not_charged_is_hidden():
    books = audit([charge("k1", "R1")], [record("k1", "R1", "error")], {})
    assert books.hidden_charges == 1 and not books.exact
    assert books.problems == ["charge k1 stands, record error"]


def test_a_charge_without_a_record_is_hidden():
    books = audit([charge("k1", "R1")], [], {})
    assert books.hidden_charges == 1 and books.charges_per_approved == float("inf")
    assert not books.exact


def test_two_charges_for_one_run_are_a_double_charge():
    books = audit([charge("k1", "R1"), charge("k2", "R1", "B2")],
                  [record("k1", "R1", "approved", "A1"), record("k2", "R1", "approved", "B2")], {})
    assert books.double_charges == 1 and not books.exact


def test_an_approval_with_another_payments_code_is_not_charged():
    """The 409 case: the second payment recorded approved with the first one's code."""
    books = audit([charge("k1", "R1", "A1")],
                  [record("k1", "R1", "approved", "A1"), record("k2", "R2", "approved", "A1")], {})
    assert books.approved_not_charged == 1 and books.charges_per_approved == 0.5
    assert not books.exact


def test_callers_told_against_the_books_and_records_left_flagged_are_wrong():
    books = audit([charge("k1", "R1")],
                  [record("k1", "R1", "approved", "A1"), record("k2", "R2", "unknown", flagged=1)],
                  {"R1": [DECLINED_WORDS], "R2": [APPROVED_WORDS]})
    assert books.told_wrong == 2 and books.still_flagged == 1 and not books.exact
