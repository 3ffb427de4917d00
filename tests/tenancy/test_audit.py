"""The audit log: who did what to which object, filterable, paginated, append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tenantry.tenancy.models import AuditEvent
from tests.helpers import api_key, member_id


def test_changes_are_recorded_with_actor_object_and_diff(client, world):
    owner = world.people["owner"]
    editor_id = member_id(client, owner, world.a, "editor@a.example")
    client.patch(
        f"/api/v1/orgs/{world.a}/members/{editor_id}", json={"role": "admin"}, headers=owner.h
    )
    key = api_key(client, owner, world.a, ["read", "admin"], name="robot")
    client.patch(
        f"/api/v1/orgs/{world.a}",
        json={"name": "Org A2"},
        headers={"Authorization": f"Bearer {key['key']}"},
    )

    log = client.get(f"/api/v1/orgs/{world.a}/audit", headers=owner.h).json()
    actions = [e["action"] for e in log["items"]]
    assert actions[:3] == ["org.update", "api_key.create", "member.role_change"]
    rename, _, role = log["items"][:3]
    assert rename["actor_type"] == "api_key" and "robot" in rename["actor_label"]
    assert rename["before"] == {"id": rename["object_id"], "slug": world.a, "name": "Org A"}
    assert rename["after"]["name"] == "Org A2"
    assert role["actor_type"] == "user" and role["actor_label"] == "owner@a.example"
    assert (
        role["object_id"] == editor_id
        and role["before"]["role"] == "editor"
        and role["after"]["role"] == "admin"
    )
    assert role["client_addr"] == "testclient" and role["request_id"]
    # Org B's log holds none of A's events.
    b_log = client.get(f"/api/v1/orgs/{world.b}/audit", headers=world.b_owner.h).json()
    assert all(e["object_id"] != editor_id for e in b_log["items"])


def test_filters_and_pagination(client, world):
    owner = world.people["owner"]
    for i in range(3):
        api_key(client, owner, world.a, ["read"], name=f"k{i}")
    base = f"/api/v1/orgs/{world.a}/audit"
    keys = client.get(base + "?action=api_key", headers=owner.h).json()
    assert keys["total"] == 3 and {e["action"] for e in keys["items"]} == {"api_key.create"}
    invites = client.get(base + "?action=invitation.accept", headers=owner.h).json()
    assert invites["total"] == 3
    by_actor = client.get(
        base + "?actor=owner@a.example&object_type=api_key", headers=owner.h
    ).json()
    assert by_actor["total"] == 3
    page = client.get(base + "?size=2&page=1", headers=owner.h).json()
    assert len(page["items"]) == 2 and page["total"] >= 10 and page["pages"] >= 5
    second = client.get(base + "?size=2&page=2", headers=owner.h).json()
    assert {e["id"] for e in page["items"]}.isdisjoint({e["id"] for e in second["items"]})
    since = keys["items"][-1]["created_at"]
    assert client.get(base + f"?since={since}&action=api_key", headers=owner.h).json()["total"] == 3


def test_audit_log_is_append_only_in_the_database(client, world):
    async def tamper(stmt):
        async with client.app.state.db.sessionmaker() as s:
            await s.execute(stmt)
            await s.commit()

    for stmt in (sa.update(AuditEvent).values(action="forged"), sa.delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            client.portal.call(tamper, stmt)
