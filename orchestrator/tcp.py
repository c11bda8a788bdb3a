"""One socket option the project sets on every TCP connection it answers or speaks on.

Nagle's algorithm holds a small write back until the peer has acknowledged the one before,
and a peer delays that ACK by up to 40 ms hoping to carry it on data of its own. Every write
here is a whole message (an HTTP answer's head then its body, an ESL command, an event after a
command's reply), so holding one back only adds those 40 ms. FreeSWITCH's event socket turns it
off on its side of both kinds of connection (mod_event_socket sets TCP_NODELAY on the
``socket`` application's connection and on each inbound one; seen with strace on 1.10.12)."""
import socket
from typing import Any


def no_delay(sock: Any) -> Any:
    """Nagle's algorithm off on ``sock``; a socket that is not TCP is left as it is. Returns it."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass        # a Unix socket, a test's socket pair: nothing to turn off
    return sock
