"""The agent panel's static files, served by the service itself: no build step, no CDN.

``panel_app()`` is a WSGI app to mount with ``service.http.router.mount("/panel", panel_app())``.
It serves only regular files directly inside ``static/`` whose extension it knows (so a path
can never climb out of the directory, name a hidden file or a directory, or come back with a
guessed content type), plus ``currencies.json``, made from the payments package's ISO 4217
table so the page converts the amount an agent types with the same minor-unit exponents the
API checks it with.

Every answer forbids framing by other sites and inline script (the page has none), sends no
referrer (the events URL carries the token, and a pre-filled panel URL a reference) and is
revalidated on each load (``no-cache`` with an ETag): a panel left open across an upgrade
must not keep running yesterday's script against today's API.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

from orchestrator.payments.iso4217 import CURRENCIES

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

Headers = List[Tuple[str, str]]

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Where index.html's <base> goes: the mount prefix is only known per request (SCRIPT_NAME),
# and relative links must work from both "/panel" and "/panel/".
BASE_PLACEHOLDER = b'<base href="./">'


def _security_headers(frame_ancestors: str) -> Headers:
    policy = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors %s"
              % frame_ancestors)
    return [("Content-Security-Policy", policy),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-cache")]


def _plain(start_response: "StartResponse", status: str, text: str,
           extra: Iterable[Tuple[str, str]] = ()) -> List[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), *extra])
    return [body]


def currencies_document() -> bytes:
    """``{"EUR": 2, "JPY": 0, ...}``: code -> minor-unit exponent, as the API validates."""
    return json.dumps({code: exponent for code, (_, exponent) in sorted(CURRENCIES.items())},
                      separators=(",", ":")).encode("utf-8")


def resolve(static_dir: str, path_info: str) -> Optional[str]:
    """The file ``path_info`` names inside ``static_dir``, or None. Only one plain name is
    accepted (no directories, no dot files, no encoded separators), with a known extension,
    and the result must be a regular file whose real path is still inside the directory."""
    name = path_info.lstrip("/") or "index.html"
    if (not name or "/" in name or "\\" in name or "\x00" in name or name.startswith(".")
            or os.path.splitext(name)[1] not in CONTENT_TYPES):
        return None
    root = os.path.realpath(static_dir)
    candidate = os.path.realpath(os.path.join(root, name))
    if os.path.dirname(candidate) != root or not os.path.isfile(candidate):
        return None
    return candidate


def panel_app(static_dir: str = STATIC_DIR, frame_ancestors: str = "'self'") -> "WSGIApplication":
    """WSGI app serving the panel. ``frame_ancestors`` is the CSP source list allowed to
    embed it (``'self'`` by default; a contact-centre desktop's origin where it frames it)."""
    headers = _security_headers(frame_ancestors)
    currencies = currencies_document()

    def app(environ: "WSGIEnvironment", start_response: "StartResponse") -> List[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "method not allowed\n",
                          [("Allow", "GET, HEAD")])
        path = environ.get("PATH_INFO") or "/"
        if path == "/currencies.json":
            body, content_type = currencies, CONTENT_TYPES[".json"]
        else:
            filename = resolve(static_dir, path)
            if filename is None:
                return _plain(start_response, "404 Not Found", "not found\n")
            with open(filename, "rb") as handle:
                body = handle.read()
            if filename.endswith("index.html"):
                base = html.escape(environ.get("SCRIPT_NAME", "").rstrip("/") + "/", quote=True)
                body = body.replace(BASE_PLACEHOLDER, b'<base href="%s">' % base.encode("utf-8"), 1)
            content_type = CONTENT_TYPES[os.path.splitext(filename)[1]]
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        response_headers = [("Content-Type", content_type), ("ETag", etag), *headers]
        if etag in [tag.strip() for tag in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]:
            start_response("304 Not Modified", response_headers)
            return [b""]
        response_headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", response_headers)
        return [b"" if method == "HEAD" else body]

    return app
