"""A byte-for-byte TCP relay between the simulated switch and the service, keeping both ways.

The canary must read what really crossed the wire, not a record either end chose to keep: a
transcript written by the simulator or by ``orchestrator record-esl`` is masked, so a search
over it cannot fail. This relay forwards every chunk unchanged as it comes and appends it to
that direction's buffer; nothing is parsed, framed or masked.

    relay = RawRelay(world.address).start()          # the service's call listener
    call = world.switch.place_call(relay.address, ...)
    world.finish(call)
    relay.wait_closed(5)                              # both directions have ended
    relay.to_service, relay.to_switch, relay.raw      # bytes

One relay takes any number of connections (each call's ``socket`` dials it once); the
buffers hold all of them, each direction in arrival order. Loopback only, test tooling only.
"""
from typing import Any, List, Tuple

import gevent
from gevent import socket
from gevent.server import StreamServer

Address = Tuple[str, int]


class RawRelay:
    """Listens on ``listen`` and relays each connection to ``forward``, keeping every byte."""

    def __init__(self, forward: Address, listen: Address = ("127.0.0.1", 0)):
        self.forward = tuple(forward)
        self.listen = tuple(listen)
        self._to_service = bytearray()   # what the dialling end (the switch) sent
        self._to_switch = bytearray()    # what the dialled end (the service) sent back
        self._pumps: List[gevent.Greenlet] = []
        self._sockets: List[Any] = []
        self._server = None
        self.connections = 0

    @property
    def address(self) -> Address:
        return self._server.address

    @property
    def to_service(self) -> bytes:
        return bytes(self._to_service)

    @property
    def to_switch(self) -> bytes:
        return bytes(self._to_switch)

    @property
    def raw(self) -> bytes:
        """Both directions, the switch's first: every byte that crossed, nothing else."""
        return self.to_service + self.to_switch

    def start(self) -> "RawRelay":
        self._server = StreamServer(self.listen, self._accepted)
        self._server.start()
        return self

    def wait_closed(self, timeout: float) -> None:
        """Until every connection so far has ended both ways (TimeoutError otherwise), so the
        buffers are complete."""
        pumps = list(self._pumps)
        gevent.joinall(pumps, timeout=timeout)
        if any(not pump.dead for pump in pumps):
            raise TimeoutError("relayed connections still open after %ss" % timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
        for sock in self._sockets:
            _close(sock)
        gevent.killall(self._pumps, timeout=1)

    def _accepted(self, from_switch: Any, _peer: Any) -> None:
        self.connections += 1
        to_service = socket.create_connection(self.forward, timeout=5)
        to_service.settimeout(None)
        self._sockets += [from_switch, to_service]
        pumps = [gevent.spawn(_pump, from_switch, to_service, self._to_service),
                 gevent.spawn(_pump, to_service, from_switch, self._to_switch)]
        self._pumps += pumps
        gevent.joinall(pumps)
        _close(from_switch)
        _close(to_service)


def _pump(source: Any, sink: Any, kept: bytearray) -> None:
    """Copy ``source`` to ``sink`` until end of stream, keeping each chunk; then pass the end on."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            kept += data
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _close(sock: Any) -> None:
    try:
        sock.close()
    except OSError:
        pass
