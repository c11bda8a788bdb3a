"""The panel's static files over the service's HTTP router: paths, types, caching, headers."""
import os
import re

import pytest
import requests

from orchestrator.agent.panel import STATIC_DIR, panel_app, resolve
from orchestrator.payments.iso4217 import CURRENCIES
from orchestrator.web import HttpServer


@pytest.fixture
def base_url(tmp_path):
    http = HttpServer("127.0.0.1", 0)
    http.router.mount("/panel", panel_app())
    http.start()
    yield "http://127.0.0.1:%d" % http.address[1]
    http.stop()


def get(url, **kwargs):
    return requests.get(url, timeout=5, allow_redirects=False, **kwargs)


@pytest.mark.parametrize("path, content_type", [
    ("/panel/", "text/html; charset=utf-8"),
    ("/panel/index.html", "text/html; charset=utf-8"),
    ("/panel/panel.js", "text/javascript; charset=utf-8"),
    ("/panel/panel.css", "text/css; charset=utf-8"),
    ("/panel/currencies.json", "application/json"),
])
def test_serves_each_file_with_its_content_type_and_safety_headers(base_url, path, content_type):
    response = get(base_url + path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'self'" in policy
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_index_links_resolve_from_the_mount_point_with_or_without_a_slash(base_url):
    for path in ("/panel", "/panel/"):
        page = get(base_url + path).text
        assert '<base href="/panel/">' in page
        assert 'src="panel.js"' in page and 'href="panel.css"' in page


def test_nothing_is_fetched_from_elsewhere():
    """No CDN, no fonts, no analytics: every URL in the page and its script is relative."""
    for name in ("index.html", "panel.js", "panel.css"):
        with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as handle:
            text = handle.read()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name
        assert "@import" not in text


def test_revalidation_answers_304_for_the_same_etag(base_url):
    first = get(base_url + "/panel/panel.js")
    etag = first.headers["ETag"]
    again = get(base_url + "/panel/panel.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert get(base_url + "/panel/panel.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_sends_headers_only(base_url):
    response = requests.head(base_url + "/panel/panel.css", timeout=5)
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["Content-Length"]) > 0


def test_only_get_and_head(base_url):
    response = requests.post(base_url + "/panel/index.html", timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", [
    "/panel/../orchestrator/agent/panel.py", "/panel/%2e%2e/panel.py", "/panel/..%2fpanel.py",
    "/panel/static/panel.js", "/panel/.hidden.js", "/panel/panel.py", "/panel/nope.js",
    "/panel/%00.js", "/panel/..%5cpanel.py", "/panel//etc/passwd",
])
def test_paths_outside_the_static_files_are_not_found(base_url, path):
    response = get(base_url + path)
    assert response.status_code in (400, 404), path
    assert b"import" not in response.content


def test_resolve_refuses_a_symlink_out_of_the_directory(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (tmp_path / "secret.js").write_text("secret")
    (static / "link.js").symlink_to(tmp_path / "secret.js")
    (static / "ok.js").write_text("ok")
    (static / "sub.js").mkdir()
    assert resolve(str(static), "/ok.js") == str(static / "ok.js")
    assert resolve(str(static), "/link.js") is None
    assert resolve(str(static), "/sub.js") is None
    assert resolve(str(static), "/../secret.js") is None


def test_currencies_are_the_payments_table_exponents(base_url):
    table = get(base_url + "/panel/currencies.json").json()
    assert table == {code: exponent for code, (_, exponent) in CURRENCIES.items()}
    assert (table["EUR"], table["JPY"], table["KWD"]) == (2, 0, 3)


def test_frame_ancestors_can_name_the_contact_centre_desktop(tmp_path):
    responses = []
    app = panel_app(frame_ancestors="https://desk.example")
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/panel.css"},
                        lambda status, headers: responses.append(dict(headers))))
    assert body and "frame-ancestors https://desk.example" in responses[0]["Content-Security-Policy"]
