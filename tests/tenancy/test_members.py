"""Invitations, roles, last-owner protection, ownership transfer, leaving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import sqlalchemy as sa

from tenantry.tenancy.models import Invitation
from tests.helpers import PASSWORD, api_key, create_org, invite_token, member_id, signup


def test_invitation_for_a_new_user(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    token = invite_token(client, ada, "acme", "Bob@Example.com", "editor")
    info = client.get(f"/api/v1/invitations/{token}").json()
    assert info == {
        "organization": "Acme",
        "organization_slug": "acme",
        "email": "Bob@example.com",
        "role": "editor",
        "account_exists": False,
    }
    r = client.post(
        f"/api/v1/invitations/{token}/signup", json={"password": PASSWORD, "name": "Bob"}
    )
    assert r.status_code == 201
    bob = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/api/v1/orgs/acme/me", headers=bob).json()["role"] == "editor"
    # Single use.
    r = client.post(f"/api/v1/invitations/{token}/signup", json={"password": PASSWORD})
    assert r.status_code == 409


def test_invitation_for_an_existing_user_needs_the_same_email(client):
    ada = signup(client, "ada@example.com")
    bob = signup(client, "bob@example.com")
    eve = signup(client, "eve@example.com")
    create_org(client, ada, "Acme")
    token = invite_token(client, ada, "acme", "bob@example.com", "viewer")
    assert client.get(f"/api/v1/invitations/{token}").json()["account_exists"] is True
    r = client.post(f"/api/v1/invitations/{token}/accept", headers=eve.h)
    assert r.status_code == 403 and "bob@example.com" in r.json()["detail"]
    r = client.post(f"/api/v1/invitations/{token}/accept", headers=bob.h)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=bob.h).status_code == 409


def test_forged_expired_and_revoked_invitations_fail(client, settings):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    token = invite_token(client, ada, "acme", "bob@example.com", "admin")
    claims = jwt.decode(token, options={"verify_signature": False})
    # Signed with another key.
    forged = jwt.encode(claims, b"k" * 32, algorithm="HS256")
    assert client.get(f"/api/v1/invitations/{forged}").status_code == 404
    # Expired.
    expired = jwt.encode(
        dict(claims, exp=datetime.now(UTC) - timedelta(seconds=1)),
        client.app.state.keys.invite,
        algorithm="HS256",
    )
    r = client.get(f"/api/v1/invitations/{expired}")
    assert r.status_code == 404 and "expired" in r.json()["detail"]
    # Revoked (and a re-invite supersedes the old link).
    newer = invite_token(client, ada, "acme", "bob@example.com", "viewer")
    assert client.get(f"/api/v1/invitations/{token}").status_code == 409
    inv_id = jwt.decode(newer, options={"verify_signature": False})["sub"]
    assert (
        client.delete(f"/api/v1/orgs/acme/invitations/{inv_id}", headers=ada.h).status_code == 204
    )
    r = client.post(f"/api/v1/invitations/{newer}/signup", json={"password": PASSWORD})
    assert r.status_code == 409 and "revoked" in r.json()["detail"]


def test_invitation_tokens_are_stored_hashed(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    token = invite_token(client, ada, "acme", "bob@example.com", "viewer")

    async def rows():
        async with client.app.state.db.sessionmaker() as s:
            return (await s.scalars(sa.select(Invitation.token_hash))).all()

    assert token not in client.portal.call(rows)


def test_cannot_invite_existing_members_or_unknown_roles(client, world):
    owner = world.people["owner"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/invitations",
        json={"email": "viewer@a.example", "role": "viewer"},
        headers=owner.h,
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "email"
    r = client.post(
        f"/api/v1/orgs/{world.a}/invitations",
        json={"email": "x@a.example", "role": "god"},
        headers=owner.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"


def test_admins_cannot_make_or_touch_owners(client, world):
    admin, owner = world.people["admin"], world.people["owner"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/invitations",
        json={"email": "x@a.example", "role": "owner"},
        headers=admin.h,
    )
    assert r.status_code == 403
    owner_id = member_id(client, owner, world.a, "owner@a.example")
    assert (
        client.patch(
            f"/api/v1/orgs/{world.a}/members/{owner_id}", json={"role": "viewer"}, headers=admin.h
        ).status_code
        == 403
    )
    assert (
        client.delete(f"/api/v1/orgs/{world.a}/members/{owner_id}", headers=admin.h).status_code
        == 403
    )
    editor_id = member_id(client, owner, world.a, "editor@a.example")
    r = client.patch(
        f"/api/v1/orgs/{world.a}/members/{editor_id}", json={"role": "owner"}, headers=admin.h
    )
    assert r.status_code == 403
    r = client.patch(
        f"/api/v1/orgs/{world.a}/members/{editor_id}", json={"role": "admin"}, headers=admin.h
    )
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_last_owner_is_protected(client, world):
    owner = world.people["owner"]
    me = member_id(client, owner, world.a, "owner@a.example")
    r = client.patch(
        f"/api/v1/orgs/{world.a}/members/{me}", json={"role": "admin"}, headers=owner.h
    )
    assert r.status_code == 409 and "last owner" in r.json()["detail"]
    r = client.delete(f"/api/v1/orgs/{world.a}/members/{me}", headers=owner.h)
    assert r.status_code == 409
    # With a second owner, the first may step down.
    admin_id = member_id(client, owner, world.a, "admin@a.example")
    client.patch(
        f"/api/v1/orgs/{world.a}/members/{admin_id}", json={"role": "owner"}, headers=owner.h
    )
    assert (
        client.patch(
            f"/api/v1/orgs/{world.a}/members/{me}", json={"role": "admin"}, headers=owner.h
        ).status_code
        == 200
    )


def test_transfer_ownership(client, world):
    owner = world.people["owner"]
    editor_id = member_id(client, owner, world.a, "editor@a.example")
    r = client.post(
        f"/api/v1/orgs/{world.a}/transfer", json={"member_id": editor_id}, headers=owner.h
    )
    assert r.status_code == 200 and r.json()["role"] == "owner"
    assert client.get(f"/api/v1/orgs/{world.a}/me", headers=owner.h).json()["role"] == "admin"
    assert (
        client.get(f"/api/v1/orgs/{world.a}/me", headers=world.people["editor"].h).json()["role"]
        == "owner"
    )


def test_members_may_leave_and_lose_access_at_once(client, world):
    viewer = world.people["viewer"]
    me = member_id(client, viewer, world.a, "viewer@a.example")
    assert (
        client.delete(f"/api/v1/orgs/{world.a}/members/{me}", headers=viewer.h).status_code == 204
    )
    assert client.get(f"/api/v1/orgs/{world.a}", headers=viewer.h).status_code == 404
    # …and a viewer cannot remove someone else.
    editor = world.people["editor"]
    admin_id = member_id(client, world.people["owner"], world.a, "admin@a.example")
    assert (
        client.delete(f"/api/v1/orgs/{world.a}/members/{admin_id}", headers=editor.h).status_code
        == 403
    )


def test_members_list_is_paginated(client, world):
    owner = world.people["owner"]
    page = client.get(f"/api/v1/orgs/{world.a}/members?size=2&page=2", headers=owner.h).json()
    assert (
        page["total"] == 4 and page["pages"] == 2 and page["page"] == 2 and len(page["items"]) == 2
    )
    r = client.get(f"/api/v1/orgs/{world.a}/members?size=1000", headers=owner.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "size"


def test_removed_members_keys_and_invitations_are_revoked(client, world):
    owner, admin = world.people["owner"], world.people["admin"]
    key = api_key(client, admin, world.a, ["read", "admin"])
    h = {"Authorization": f"Bearer {key['key']}"}
    token = invite_token(client, admin, world.a, "friend@a.example", "admin")
    admin_id = member_id(client, owner, world.a, "admin@a.example")
    assert (
        client.delete(f"/api/v1/orgs/{world.a}/members/{admin_id}", headers=owner.h).status_code
        == 204
    )
    # The key stops at once, so it cannot be used to invite its maker back…
    assert client.get(f"/api/v1/orgs/{world.a}/members", headers=h).status_code == 401
    # …and the invitation they sent is void.
    r = client.post(f"/api/v1/invitations/{token}/signup", json={"password": PASSWORD})
    assert r.status_code == 409 and "revoked" in r.json()["detail"]
    reasons = client.get(
        f"/api/v1/orgs/{world.a}/audit?action=api_key.revoke", headers=owner.h
    ).json()
    assert reasons["items"][0]["after"] == {"reason": "member removed"}


def test_demotion_revokes_only_what_the_new_role_cannot_grant(client, world):
    owner, admin = world.people["owner"], world.people["admin"]
    admin_key = api_key(client, admin, world.a, ["read", "admin"], name="adminish")
    read_key = api_key(client, admin, world.a, ["read", "run"], name="reader")
    token = invite_token(client, admin, world.a, "friend@a.example", "viewer")
    admin_id = member_id(client, owner, world.a, "admin@a.example")
    r = client.patch(
        f"/api/v1/orgs/{world.a}/members/{admin_id}", json={"role": "editor"}, headers=owner.h
    )
    assert r.status_code == 200
    org = f"/api/v1/orgs/{world.a}"
    assert (
        client.get(org, headers={"Authorization": f"Bearer {admin_key['key']}"}).status_code == 401
    )
    assert (
        client.get(org, headers={"Authorization": f"Bearer {read_key['key']}"}).status_code == 200
    )
    # An editor no longer manages members, so their pending invitation is withdrawn.
    assert client.get(f"/api/v1/invitations/{token}").status_code == 409


def test_owner_who_transfers_loses_owner_invitations(client, world):
    owner = world.people["owner"]
    token = invite_token(client, owner, world.a, "second-owner@a.example", "owner")
    kept = invite_token(client, owner, world.a, "helper@a.example", "admin")
    editor_id = member_id(client, owner, world.a, "editor@a.example")
    client.post(f"/api/v1/orgs/{world.a}/transfer", json={"member_id": editor_id}, headers=owner.h)
    assert client.get(f"/api/v1/invitations/{token}").status_code == 409
    assert client.get(f"/api/v1/invitations/{kept}").status_code == 200


def test_two_owners_leaving_at_once_leave_one(client, world, settings):
    """Two replicas, each pausing between counting owners and removing one: the org keeps one."""
    import threading
    import time

    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from tenantry.app import create_app

    owner, admin = world.people["owner"], world.people["admin"]
    admin_id = member_id(client, owner, world.a, "admin@a.example")
    client.patch(
        f"/api/v1/orgs/{world.a}/members/{admin_id}", json={"role": "owner"}, headers=owner.h
    )
    owner_id = member_id(client, owner, world.a, "owner@a.example")

    def pause_after_owner_count(conn, cursor, statement, *args):
        if "count(*)" in statement and "memberships" in statement:
            time.sleep(0.4)  # widen the window between the check and the write

    codes = []

    def leave(person, mid):
        with TestClient(create_app(settings)) as replica:
            event.listen(
                replica.app.state.db.engine.sync_engine,
                "after_cursor_execute",
                pause_after_owner_count,
            )
            r = replica.delete(f"/api/v1/orgs/{world.a}/members/{mid}", headers=person.h)
            codes.append(r.status_code)

    threads = [
        threading.Thread(target=leave, args=a) for a in ((owner, owner_id), (admin, admin_id))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [204, 409], codes
    members = client.get(f"/api/v1/orgs/{world.a}/members", headers=world.people["viewer"].h).json()
    assert [m["role"] for m in members["items"]].count("owner") == 1
