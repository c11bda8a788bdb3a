"""The WSGI server the sandbox peers (gateway, CRM) answer on: HTTPS when given a certificate,
and a pool of handlers that ``stop`` kills, so a handler still sleeping (a slow or hanging
answer, a keep-alive connection, a late charge spawned into the pool) never outlives the peer
that a test or the demo has stopped."""
import logging
import ssl
from typing import Any, Callable, Dict, Optional, Type

from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer

from .wsgi_server import PromptWSGIServer


class LoopbackServer:
    def __init__(self, host: str, port: int, certfile: Optional[str] = None,
                 keyfile: Optional[str] = None) -> None:
        self.host, self.port = host, port
        self.certfile, self.keyfile = certfile, keyfile
        self.pool: Optional[Pool] = None
        self._server: Optional[WSGIServer] = None

    def start(self, app: Callable, pool_size: int, error_log: logging.Logger,
              handler_class: Optional[Type[WSGIHandler]] = None) -> int:
        """Listen and serve ``app``; the port it listens on (``port=0`` picks a free one)."""
        options: Dict[str, Any] = {}
        if self.certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.certfile, self.keyfile)
            options["ssl_context"] = context
        if handler_class is not None:
            options["handler_class"] = handler_class
        self.pool = Pool(pool_size)
        self._server = PromptWSGIServer((self.host, self.port), app, log=None,
                                        error_log=error_log, spawn=self.pool, **options)
        self._server.start()
        self.port = self._server.server_port
        return self.port

    def stop(self, timeout: float = 0.2) -> None:
        if self._server is not None:
            self._server.stop(timeout=timeout)
            self._server = None
        if self.pool is not None:
            self.pool.kill(block=True, timeout=timeout)
            self.pool = None

    @property
    def url(self) -> str:
        scheme = "https" if self.certfile else "http"
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % (scheme, host, self.port)
