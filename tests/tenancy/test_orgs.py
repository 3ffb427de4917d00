"""Organizations: create, rename, soft delete and restore."""

from __future__ import annotations

from tests.helpers import create_org, signup


def test_create_derives_a_slug_and_refuses_duplicates(client):
    ada = signup(client, "ada@example.com")
    org = create_org(client, ada, "Acme Shop, Inc.")
    assert org["slug"] == "acme-shop-inc" and org["role"] == "owner"
    r = client.post("/api/v1/orgs", json={"name": "Other", "slug": "acme-shop-inc"}, headers=ada.h)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "slug"
    r = client.post("/api/v1/orgs", json={"name": "Other", "slug": "Not OK"}, headers=ada.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "slug"
    r = client.post("/api/v1/orgs", json={"name": "  "}, headers=ada.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    assert [o["slug"] for o in client.get("/api/v1/orgs", headers=ada.h).json()["items"]] == [
        "acme-shop-inc"
    ]


def test_rename_and_change_slug(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    r = client.patch(
        "/api/v1/orgs/acme", json={"name": "Acme Ltd", "slug": "acme-ltd"}, headers=ada.h
    )
    assert r.status_code == 200 and r.json()["slug"] == "acme-ltd"
    assert client.get("/api/v1/orgs/acme", headers=ada.h).status_code == 404
    assert client.get("/api/v1/orgs/acme-ltd", headers=ada.h).json()["name"] == "Acme Ltd"
    # Its own slug in another case is not "taken".
    r = client.patch("/api/v1/orgs/acme-ltd", json={"slug": " ACME-LTD "}, headers=ada.h)
    assert r.status_code == 200 and r.json()["slug"] == "acme-ltd"
    r = client.patch("/api/v1/orgs/acme-ltd", json={"name": "x" * 201}, headers=ada.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"


def test_soft_delete_hides_and_restore_brings_back(client, world):
    owner = world.people["owner"]
    assert (
        client.delete(f"/api/v1/orgs/{world.a}", headers=world.people["admin"].h).status_code == 403
    )
    assert client.delete(f"/api/v1/orgs/{world.a}", headers=owner.h).status_code == 204
    for person in world.people.values():
        assert client.get(f"/api/v1/orgs/{world.a}", headers=person.h).status_code == 404
    deleted = client.get("/api/v1/orgs?deleted=true", headers=owner.h).json()["items"]
    assert [o["slug"] for o in deleted] == [world.a]
    # Only owners see it to restore; the slug stays reserved meanwhile.
    assert (
        client.get("/api/v1/orgs?deleted=true", headers=world.people["admin"].h).json()["total"]
        == 0
    )
    r = client.post(
        "/api/v1/orgs", json={"name": "Taken", "slug": world.a}, headers=world.b_owner.h
    )
    assert r.status_code == 409
    assert (
        client.post(f"/api/v1/orgs/{world.a}/restore", headers=world.people["admin"].h).status_code
        == 404
    )
    assert client.post(f"/api/v1/orgs/{world.a}/restore", headers=owner.h).status_code == 200
    assert (
        client.get(f"/api/v1/orgs/{world.a}/members", headers=world.people["viewer"].h).json()[
            "total"
        ]
        == 4
    )
