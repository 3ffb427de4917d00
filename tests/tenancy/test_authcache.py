"""The auth cache never outlives a change: same process at once, other replicas through Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.helpers import api_key, create_org, member_id, signup


def test_role_change_applies_to_the_next_request(client, world):
    owner, editor = world.people["owner"], world.people["editor"]
    url = f"/api/v1/orgs/{world.a}/api-keys"
    assert (
        client.post(url, json={"name": "x", "scopes": ["read"]}, headers=editor.h).status_code
        == 403
    )
    eid = member_id(client, owner, world.a, "editor@a.example")
    client.patch(f"/api/v1/orgs/{world.a}/members/{eid}", json={"role": "admin"}, headers=owner.h)
    assert (
        client.post(url, json={"name": "x", "scopes": ["read"]}, headers=editor.h).status_code
        == 201
    )
    client.patch(f"/api/v1/orgs/{world.a}/members/{eid}", json={"role": "viewer"}, headers=owner.h)
    assert client.get(url, headers=editor.h).status_code == 403


def test_org_rename_is_seen_at_once(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    assert client.get("/api/v1/orgs/acme", headers=ada.h).json()["name"] == "Acme"
    client.patch("/api/v1/orgs/acme", json={"name": "Acme 2"}, headers=ada.h)
    assert client.get("/api/v1/orgs/acme", headers=ada.h).json()["name"] == "Acme 2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def second_replica(settings, requires_redis):
    """Another `tenantry serve` process on the same metadata store and Redis."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATA_DIR=str(settings.data_dir),
        TENANTRY_SECRET_KEY=settings.secret_key,
        TENANTRY_ENCRYPTION_KEYS=settings.encryption_keys,
        TENANTRY_REDIS_URL=requires_redis,
        TENANTRY_AUTH_CACHE_SECONDS="300",  # only an invalidation message can clear it in time
    )
    if settings.database_url:
        env["TENANTRY_DATABASE_URL"] = settings.database_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantry", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "replica did not start"
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(10)


def test_revocation_reaches_other_replicas_through_redis(settings, requires_redis, second_replica):
    settings.redis_url = requires_redis
    settings.auth_cache_seconds = 300
    with TestClient(create_app(settings)) as one:
        ada = signup(one, "ada@example.com")
        create_org(one, ada, "Acme")
        key = api_key(one, ada, "acme", ["read"])
        h = {"Authorization": f"Bearer {key['key']}"}
        url = f"{second_replica}/api/v1/orgs/acme"
        for _ in range(3):  # now cached on the second replica
            assert httpx.get(url, headers=h).status_code == 200
        assert (
            one.delete(f"/api/v1/orgs/acme/api-keys/{key['id']}", headers=ada.h).status_code == 204
        )
        deadline = time.time() + 5
        while httpx.get(url, headers=h).status_code != 401:
            assert time.time() < deadline, "the other replica still accepts a revoked key"
            time.sleep(0.05)
