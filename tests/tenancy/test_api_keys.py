"""Organization API keys: shown once, keyed hash at rest, scopes, expiry, last use, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tenantry.tenancy.models import ApiKey
from tests.helpers import api_key, create_org, signup


def _db_rows(client):
    async def go():
        async with client.app.state.db.sessionmaker() as s:
            return (await s.scalars(sa.select(ApiKey))).all()

    return client.portal.call(go)

    return client.portal.call(go)


def test_key_is_shown_once_and_stored_as_keyed_hash(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    created = api_key(client, ada, "acme", ["read"], name="exporter")
    secret = created["key"]
    assert secret.startswith("tny_") and len(secret) > 40
    assert created["prefix"] == secret[:12]
    listed = client.get("/api/v1/orgs/acme/api-keys", headers=ada.h).json()
    assert listed["total"] == 1 and "key" not in listed["items"][0]
    assert secret not in str(listed)
    [row] = _db_rows(client)
    assert row.key_hash != secret and secret not in row.key_hash and len(row.key_hash) == 64


def test_key_authenticates_with_its_scopes_and_records_last_use(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    key = api_key(client, ada, "acme", ["read"])
    h = {"Authorization": f"Bearer {key['key']}"}
    me = client.get("/api/v1/orgs/acme/me", headers=h).json()
    assert me["actor_type"] == "api_key" and me["role"] is None and me["scopes"] == ["read"]
    assert "members:manage" not in me["permissions"]
    assert client.get("/api/v1/orgs/acme/members", headers=h).status_code == 200
    assert client.get("/api/v1/orgs/acme/api-keys", headers=h).status_code == 403
    # X-API-Key works as well as the bearer header.
    assert client.get("/api/v1/orgs/acme", headers={"X-API-Key": key["key"]}).status_code == 200
    listed = client.get("/api/v1/orgs/acme/api-keys", headers=ada.h).json()["items"][0]
    assert listed["last_used_at"] is not None


def test_revocation_takes_effect_on_the_next_request(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    key = api_key(client, ada, "acme", ["read"])
    h = {"Authorization": f"Bearer {key['key']}"}
    assert client.get("/api/v1/orgs/acme", headers=h).status_code == 200
    assert (
        client.delete(f"/api/v1/orgs/acme/api-keys/{key['id']}", headers=ada.h).status_code == 204
    )
    r = client.get("/api/v1/orgs/acme", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert (
        client.delete(f"/api/v1/orgs/acme/api-keys/{key['id']}", headers=ada.h).status_code == 409
    )


def test_expired_keys_stop_working(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = client.post(
        "/api/v1/orgs/acme/api-keys",
        json={"name": "k", "scopes": ["read"], "expires_at": soon},
        headers=ada.h,
    )
    key = r.json()
    assert key["expires_at"] is not None

    async def expire():
        async with client.app.state.db.sessionmaker() as s:
            await s.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == key["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await s.commit()

    client.portal.call(expire)
    assert (
        client.get(
            "/api/v1/orgs/acme", headers={"Authorization": f"Bearer {key['key']}"}
        ).status_code
        == 401
    )


def test_bad_key_requests_name_the_field(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    r = client.post(
        "/api/v1/orgs/acme/api-keys",
        json={"name": "k", "scopes": ["read", "superuser"]},
        headers=ada.h,
    )
    assert (
        r.status_code == 422
        and r.json()["errors"][0]["field"] == "scopes"
        and "superuser" in r.json()["detail"]
    )
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = client.post(
        "/api/v1/orgs/acme/api-keys",
        json={"name": "k", "scopes": ["read"], "expires_at": past},
        headers=ada.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    assert client.get("/api/v1/orgs/acme/api-keys", headers=ada.h).json()["total"] == 0


def test_a_key_cannot_outgrow_its_maker(client, world):
    admin_key = api_key(client, world.people["admin"], world.a, ["read", "admin"])
    h = {"Authorization": f"Bearer {admin_key['key']}"}
    # An admin-scoped key may make keys, but only with scopes it has itself.
    r = client.post(
        f"/api/v1/orgs/{world.a}/api-keys", json={"name": "x", "scopes": ["run"]}, headers=h
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/orgs/{world.a}/api-keys", json={"name": "x", "scopes": ["read"]}, headers=h
    )
    assert r.status_code == 201


def test_keys_die_with_their_organization(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    key = api_key(client, ada, "acme", ["read"])
    assert client.delete("/api/v1/orgs/acme", headers=ada.h).status_code == 204
    assert (
        client.get(
            "/api/v1/orgs/acme", headers={"Authorization": f"Bearer {key['key']}"}
        ).status_code
        == 401
    )


def test_naive_expiry_is_taken_as_utc(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    r = client.post(
        "/api/v1/orgs/acme/api-keys",
        json={"name": "k", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00"},
        headers=ada.h,
    )
    assert r.status_code == 201 and r.json()["expires_at"].startswith("2999-01-01T00:00:00")
    r = client.get(
        "/api/v1/orgs/acme/audit?since=2000-01-01T00:00:00&until=2999-01-01T00:00:00", headers=ada.h
    )
    assert r.status_code == 200 and r.json()["total"] >= 2
