"""The service's HTTP server: routes, /metrics, /healthz, /readyz, and what it must never show."""
import io
import json
import logging

import gevent
import pytest
import requests

from orchestrator.logs import setup_logging
from orchestrator.simulator import CallerScript
from orchestrator.web import HttpServer, json_bodies_only, json_response, only_get

CANARY = "4111111111111111"   # a card number keyed into a call must never reach /metrics


def url(address, path):
    return "http://%s:%d%s" % (address[0], address[1], path)


@pytest.fixture
def server():
    http = HttpServer("127.0.0.1", 0)
    http.start()
    yield http
    http.stop()


def test_router_serves_exact_routes_and_mounted_prefixes(server):
    seen = {}

    def api(environ, start_response):
        seen["script"], seen["path"] = environ["SCRIPT_NAME"], environ["PATH_INFO"]
        return json_response(start_response, "200 OK", {"api": True})

    server.router.route("/ping", only_get(lambda e, s: json_response(s, "200 OK", {"pong": 1})))
    server.router.mount("/api/v1", api)
    assert requests.get(url(server.address, "/ping"), timeout=5).json() == {"pong": 1}
    assert requests.post(url(server.address, "/ping"), timeout=5).status_code == 405
    assert requests.get(url(server.address, "/api/v1/payments/7"), timeout=5).json() == {"api": True}
    assert seen == {"script": "/api/v1", "path": "/payments/7"}
    assert requests.get(url(server.address, "/api/v10"), timeout=5).status_code == 404
    assert requests.get(url(server.address, "/nope"), timeout=5).status_code == 404


def test_access_log_goes_through_logging_without_the_query_string(server, caplog):
    server.router.route("/ping", lambda e, s: json_response(s, "200 OK", {}))
    with caplog.at_level(logging.DEBUG, logger="orchestrator.http"):
        requests.get(url(server.address, "/ping?reference=ABC-%s" % CANARY), timeout=5)
        gevent.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "orchestrator.http.access"]
    assert lines and lines[-1].startswith("http GET /ping 200 ")
    # the service's lines (the test's own HTTP client, urllib3, may log its request at DEBUG)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("orchestrator"))
    assert "reference" not in ours and CANARY not in ours


def test_a_failing_route_answers_500_and_logs_through_logging_redacted(server):
    def broken(environ, start_response):
        raise ValueError("card %s refused" % CANARY)

    server.router.route("/broken", broken)
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        assert requests.get(url(server.address, "/broken"), timeout=5).status_code == 500
        gevent.sleep(0.05)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in lines if line["msg"] == "http GET /broken failed"]
    assert failed and "ValueError: card XXXXXXXXXXXXXXXX refused" in failed[0]["exc"]
    assert CANARY not in stream.getvalue()


@pytest.fixture
def running(service_on_simulator):
    world = service_on_simulator({"http": {"enabled": True, "host": "127.0.0.1", "port": 0},
                                  "tenants": ["acme"]}, node=True)
    return world.switch, world.service


def test_healthz_and_readyz_report_in_json_with_status_codes(running):
    switch, service = running
    assert service.pool.node("fs1").wait_connected(5)
    alive = requests.get(url(service.http_address, "/healthz"), timeout=5)
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}
    ready = requests.get(url(service.http_address, "/readyz"), timeout=5)
    assert ready.status_code == 200
    body = ready.json()
    store = body.pop("store")
    assert body == {"status": "ready", "listening": True, "calls_in_progress": 0,
                    "nodes": {"fs1": {"up": True, "calls_in_progress": 0, "last_error": None,
                                      "secure_entry": True}},
                    "nodes_up": 1, "min_nodes_up": 1}
    assert (store["backend"], store["up"]) == ("sqlite", True)
    service.pool.node("fs1").stop()
    not_ready = requests.get(url(service.http_address, "/readyz"), timeout=5)
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "not ready" and not_ready.json()["nodes_up"] == 0
    assert not_ready.json()["nodes"]["fs1"]["up"] is False
    assert requests.get(url(service.http_address, "/healthz"), timeout=5).status_code == 200
    assert requests.post(url(service.http_address, "/readyz"), timeout=5).status_code == 405


def test_readyz_is_503_while_draining(running):
    switch, service = running
    service.server.stop(grace=0)
    response = requests.get(url(service.http_address, "/readyz"), timeout=5)
    assert response.status_code == 503 and response.json()["listening"] is False


def test_metrics_endpoint_serves_the_service_registry_and_no_call_data(running):
    """The canary: digits keyed into a call, the call's UUID and its amount never reach /metrics."""
    switch, service = running
    call = switch.place_call(
        service.address, caller=CallerScript.from_data(
            [{"wait_prompt": 2}, {"press": "1"}, {"wait_prompt": 4}, {"press": CANARY + "#", "spacing": 0.05}]),
        variables={"pay_flow": "welcome", "pay_tenant": "acme", "pay_amount": "98765",
                   "pay_reference": "REF-%s" % CANARY})
    call.wait(timeout=30)
    with gevent.Timeout(5):
        while service.server.active_calls:
            gevent.sleep(0.02)
    response = requests.get(url(service.http_address, "/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    assert 'tenant="acme"' in text and 'flow="welcome"' in text
    assert "payivr_build_info{" in text and 'payivr_esl_connection_up{node="fs1"}' in text
    # Sample values are floats (sums, timestamps) where short digit runs occur by chance, so
    # the short secrets are looked for in names and labels; the whole ones everywhere.
    names_and_labels = "\n".join(line.rsplit(" ", 1)[0] for line in text.splitlines()
                                 if line and not line.startswith("#"))
    for secret in (CANARY, "REF-", call.uuid):
        assert secret not in text, secret
    for secret in (CANARY[:6], CANARY[-4:], "98765"):
        assert secret not in names_and_labels, secret


def test_json_bodies_only_answers_415_to_a_body_that_is_not_json(server):
    seen = []

    def api(environ, start_response):
        seen.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        return json_response(start_response, "200 OK", {"ok": True})

    server.router.mount("/api", json_bodies_only(api))
    base = url(server.address, "/api/x")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                         "application/jsonp", ""):
        reply = requests.post(base, data=b'{"a": 1}', timeout=5,
                              headers={"Content-Type": content_type} if content_type else {})
        assert reply.status_code == 415, content_type
        assert reply.json() == {"error": "unsupported_media_type",
                                "message": "the request body must be application/json"}
    assert seen == []
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "Application/JSON", "application/merge-patch+json"):
        reply = requests.post(base, data=b'{"a": 1}', headers={"Content-Type": content_type},
                              timeout=5)
        assert reply.status_code == 200, content_type
    # no body, no type needed (a POST .../cancel has none)
    assert requests.post(base, timeout=5).status_code == 200
    assert requests.get(base, timeout=5).status_code == 200
