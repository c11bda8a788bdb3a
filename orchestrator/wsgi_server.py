"""The gevent WSGI server every HTTP answer of the project goes out on (the service's API and
metrics, the sandbox gateway and CRM), with Nagle's algorithm off on each connection.

pywsgi sends an answer's head and its body in two writes. With Nagle's algorithm on, the second
write waits until the client has acknowledged the first, and a client delays that ACK by up to
40 ms hoping to carry it on data of its own: on a kept-alive connection every answer took 40 ms
more than its work (44 ms a request against 0.5, ``bench/http_client.py``), an agent's panel
and a gateway call alike. Each answer is whole when it is written, so nothing is gained by
holding a segment back."""
from typing import Any

from gevent.pywsgi import WSGIServer

from .tcp import no_delay


class PromptWSGIServer(WSGIServer):
    def handle(self, sock: Any, address: Any) -> None:
        no_delay(sock)
        super().handle(sock, address)
