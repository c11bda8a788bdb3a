"""The outbox table on each backend: a seq per tenant from the store's counter, the body kept
byte for byte, queue_size and max_body refused with a gap in seq, a claim held by one instance
at a time (and lapsing), max_age given up by the clock, and what becomes of a row written down."""
import json

from orchestrator.callbacks.outbox import (DELIVERED, FULL, GIVEN_UP, PENDING, STORED, TOO_LARGE,
                                           Outbox)


class Clock:
    """A clock the test moves: time-dependent rules tested without waiting."""

    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def body(event_id, seq, created):
    return json.dumps({"event_id": event_id, "seq": seq, "created": created}).encode()


def add(outbox, tenant="acme", queue_size=100, max_body=65536, build=body):
    return outbox.add(tenant, "payment.test", build, queue_size, max_body)


def test_seq_counts_each_tenants_rows_and_the_body_is_kept_as_built(store):
    outbox = Outbox(store.backend)
    added = [add(outbox, tenant) for tenant in ("acme", "acme", "beta", "acme", "beta")]
    assert [(a.outcome, a.seq) for a in added] == [
        (STORED, 1), (STORED, 2), (STORED, 1), (STORED, 3), (STORED, 2)]
    rows = outbox.rows("acme")
    assert [r.seq for r in rows] == [1, 2, 3] and {r.state for r in rows} == {PENDING}
    assert json.loads(rows[0].body) == {"event_id": rows[0].id, "seq": 1,
                                        "created": rows[0].created}
    assert len({r.id for r in outbox.rows()}) == 5


def test_a_second_instance_continues_the_tenants_seq(open_backend):
    first, second = Outbox(open_backend().backend), Outbox(open_backend().backend)
    assert [add(first).seq, add(second).seq, add(first).seq] == [1, 2, 3]


def test_past_queue_size_a_row_is_not_stored_and_leaves_a_gap(store):
    outbox = Outbox(store.backend)
    assert [add(outbox, queue_size=2).outcome for _ in range(3)] == [STORED, STORED, FULL]
    assert add(outbox, "beta", queue_size=2).outcome == STORED     # another tenant's own count
    delivered = outbox.rows("acme")[0]
    outbox.delivered(delivered.id)
    # a row delivered no longer counts: the next one is stored, its seq past the dropped one
    again = add(outbox, queue_size=2)
    assert (again.outcome, again.seq) == (STORED, 4)
    assert [r.seq for r in outbox.rows("acme")] == [1, 2, 4]


def test_a_body_over_max_body_is_not_stored(store):
    outbox = Outbox(store.backend)
    large = add(outbox, max_body=2048, build=lambda *_: b"x" * 2049)
    assert (large.outcome, large.size) == (TOO_LARGE, 2049)
    assert add(outbox, max_body=2048).outcome == STORED
    assert [r.seq for r in outbox.rows()] == [2]


def test_a_row_is_claimed_by_one_instance_until_its_claim_lapses(open_backend):
    clock = Clock()
    one, two = Outbox(open_backend().backend, clock), Outbox(open_backend().backend, clock)
    add(one)
    [row] = one.claim("acme", "one", hold=10)
    assert row.claimed_by == "one" and row.claimed_until == clock.now + 10
    assert two.claim("acme", "two", hold=10) == []
    clock.now += 11               # "one" died mid-request: its claim lapses
    [again] = two.claim("acme", "two", hold=10)
    assert again.id == row.id
    # what "one" would write now is refused: the row is "two"'s
    assert one.retry(row.id, "one", "HTTP 503", 1.0) is False
    assert two.retry(row.id, "two", "HTTP 503", 5.0) is True
    [retried] = two.rows()
    assert (retried.state, retried.attempts, retried.next_attempt, retried.last_error,
            retried.claimed_by) == (PENDING, 1, clock.now + 5.0, "HTTP 503", None)
    assert one.claim("acme", "one", hold=10) == []      # not due yet
    clock.now += 5
    assert [r.id for r in one.claim("acme", "one", hold=10)] == [row.id]


def test_claims_come_oldest_first_and_never_twice(store):
    clock = Clock()
    outbox = Outbox(store.backend, clock)
    for _ in range(5):
        add(outbox)
    taken = outbox.claim("acme", "one", hold=10, limit=3) + outbox.claim("acme", "two", hold=10,
                                                                         limit=3)
    assert [r.seq for r in taken] == [1, 2, 3, 4, 5]


def test_rows_older_than_max_age_are_given_up_by_the_clock_not_by_attempts(store):
    clock = Clock()
    outbox = Outbox(store.backend, clock)
    add(outbox)
    clock.now += 3600
    add(outbox)
    assert outbox.expire("acme", max_age=7200) == 0
    clock.now += 3601            # the first is now 7201 s old, the second 3601 s
    assert outbox.expire("acme", max_age=7200) == 1
    first, second = outbox.rows("acme")
    assert (first.state, first.attempts, first.finished) == (GIVEN_UP, 0, clock.now)
    assert "max_age" in first.last_error and second.state == PENDING
    assert outbox.pending_by_tenant() == {"acme": (1, second.created)}


def test_delivered_and_given_up_rows_are_done(store):
    outbox = Outbox(store.backend)
    add(outbox)
    add(outbox)
    first, second = outbox.claim("acme", "one", hold=10, limit=2)
    outbox.delivered(first.id)
    assert outbox.give_up(second.id, "one", "HTTP 410") is True
    rows = {r.id: r for r in outbox.rows()}
    assert (rows[first.id].state, rows[first.id].attempts) == (DELIVERED, 1)
    assert (rows[second.id].state, rows[second.id].last_error) == (GIVEN_UP, "HTTP 410")
    assert outbox.claim("acme", "one", hold=10) == [] and outbox.pending_by_tenant() == {}
