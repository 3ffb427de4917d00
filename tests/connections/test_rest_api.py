"""The REST API kind against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TOKEN = "tok-very-secret-123"


class Api(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path.startswith("/v1/moved"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        bodies = {
            "/v1/customers": [{"id": 1}, {"id": 2}],
            "/v1/orders": {"data": {"items": [{"id": 10}, {"id": 11}, {"id": 12}]}, "next": None},
        }
        body = bodies.get(self.path.split("?")[0])
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())


@pytest.fixture
def api_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _test(client, world, config):
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections/test",
        json={"kind": "rest_api", "config": config},
        headers=world.people["editor"].h,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_rest_api_kind_really_calls_the_api(client, settings, world, api_server):
    settings.allowed_private_networks = "127.0.0.0/8"
    cfg = {
        "base_url": api_server,
        "resources": "customers, orders",
        "auth": "bearer",
        "token": TOKEN,
    }
    ok = _test(client, world, cfg)
    assert (
        ok["ok"] is True
        and ok["message"] == "HTTP 200 from /customers; 2 record(s) on the first page"
    )
    nested = _test(client, world, {**cfg, "resources": "orders", "data_selector": "data.items"})
    assert nested["message"].startswith("HTTP 200 from /orders; 3 record(s)")
    wrong = _test(client, world, {**cfg, "token": "nope"})
    assert wrong["ok"] is False and "401" in wrong["message"]
    missing = _test(client, world, {**cfg, "resources": "nothing"})
    assert missing["ok"] is False and "404" in missing["message"]
    moved = _test(client, world, {**cfg, "resources": "moved"})
    assert moved["ok"] is False and "redirects" in moved["message"]
    for result in (ok, nested, wrong, missing, moved):
        assert TOKEN not in json.dumps(result)


def test_rest_api_config_is_validated_and_secrets_masked(client, settings, world, api_server):
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}/connections"
    r = client.post(
        base,
        json={
            "name": "api",
            "kind": "rest_api",
            "config": {"base_url": "ftp://x", "resources": "a"},
        },
        headers=owner.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "config.base_url"
    cfg = {"base_url": api_server, "resources": "customers", "auth": "bearer", "token": TOKEN}
    conn = client.post(
        base, json={"name": "api", "kind": "rest_api", "config": cfg}, headers=owner.h
    ).json()
    assert conn["config"]["token"] == "********" and conn["config"]["base_url"].endswith("/v1/")
    # Loopback is refused until the operator allows it.
    refused = client.post(f"{base}/{conn['id']}/test", headers=owner.h).json()
    assert refused["ok"] is False and "loopback" in refused["message"]
    settings.allowed_private_networks = "127.0.0.0/8"
    assert client.post(f"{base}/{conn['id']}/test", headers=owner.h).json()["ok"] is True
