"""The simulated switch's event sockets have Nagle's algorithm off, as a real FreeSWITCH's do
(mod_event_socket sets TCP_NODELAY on the ``socket`` application's connection and on each
inbound one): with it on, an event written right after a command's reply waited for the
client's delayed ACK, 40 ms an application that a real switch does not take."""
import socket

import gevent

from orchestrator.simulator import Switch
from orchestrator.simulator.outbound import dial


def nodelay(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_socket_application_s_connection_has_nagle_off():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        sock = dial(listener.getsockname())
        assert sock is not None and nodelay(sock)
        sock.close()
    finally:
        listener.close()


def test_an_inbound_connection_has_nagle_off_on_the_switch_s_side():
    switch = Switch(password="x").start()
    try:
        client = socket.create_connection(switch.inbound_address, timeout=5)
        with gevent.Timeout(5):
            while not switch._listeners:
                gevent.sleep(0.01)
        (listener,) = switch._listeners
        assert nodelay(listener.sock)
        assert not nodelay(client)      # control: a socket nobody set keeps Nagle on
        client.close()
    finally:
        switch.stop()
