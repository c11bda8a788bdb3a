"""What the soak reads of a process's descriptors: each named by what it is, so a leak is told
from a pool's kept connections."""
import os
import socket

from bench.compare import Run, Plan
from bench.proc_stats import fd_kinds, grown


def test_descriptors_are_named_by_kind_and_far_port():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    before = fd_kinds(os.getpid())
    client = socket.socket()
    client.connect(("127.0.0.1", port))      # an address: no resolver (its threads use pipes)
    accepted, _ = listener.accept()
    read_end, write_end = os.pipe()
    try:
        more = grown(before, fd_kinds(os.getpid()))
        assert more["tcp ESTABLISHED to :%d" % port] == 1          # the client's end
        assert sum(n for kind, n in more.items() if kind.startswith("tcp ESTABLISHED")) == 2
        assert more["pipe"] == 2
        assert "tcp LISTEN on :%d" % port in fd_kinds(os.getpid())
    finally:
        for closing in (client, accepted, listener):
            closing.close()
        os.close(read_end)
        os.close(write_end)
    # (the test run itself may open pipes meanwhile: the sockets are what is looked at)
    assert [kind for kind in grown(before, fd_kinds(os.getpid())) if kind.startswith("tcp")] == []


def test_the_soak_allows_the_gateway_pool_up_to_its_calls_at_once_and_no_more(monkeypatch):
    run = Run(sim=None, addresses={}, pids={}, plan=Plan(), gateway_port=8443)
    pool = "tcp ESTABLISHED to :8443"
    before = {pool: 3, "pipe": 2}
    for after, left in (({pool: 10, "pipe": 2}, {}),                 # grown to 10 at once: a pool
                        ({pool: 12, "pipe": 2}, {pool: 2}),          # more than 10: 2 leaked
                        ({pool: 10, "pipe": 3}, {"pipe": 1})):       # anything else counts
        monkeypatch.setattr("bench.compare.fd_kinds", lambda pid, after=after: after)
        assert run._left(0, before, at_once=10) == left
