"""The data model through the API: versions, validation that changes nothing, diff, templates,
signing keys and the permissions around them."""

from __future__ import annotations

import jwt

from tests.helpers import api_key, join
from tests.semantic.helpers import ORDERS, put_model


def test_saves_make_versions_and_a_noop_save_makes_none(client, world):
    owner = world.people["owner"]
    r = put_model(client, owner, world.a, {"orders.yml": ORDERS}, message="first")
    assert r.status_code == 201 and r.json()["version"] == 1 and r.json()["created"]
    again = put_model(client, owner, world.a, {"orders.yml": ORDERS})
    assert again.status_code == 200 and again.json() == again.json() | {
        "version": 1,
        "created": False,
    }
    changed = ORDERS.replace("type: count", "type: count\n        title: Orders")
    assert put_model(client, owner, world.a, {"orders.yml": changed}).json()["version"] == 2
    page = client.get(f"/api/v1/orgs/{world.a}/semantic/versions", headers=owner.h).json()
    assert [v["version"] for v in page["items"]] == [2, 1] and page["total"] == 2
    first = client.get(f"/api/v1/orgs/{world.a}/semantic/versions/1", headers=owner.h).json()
    assert first["files"] == {"orders.yml": ORDERS} and first["message"] == "first"
    diff = client.get(f"/api/v1/orgs/{world.a}/semantic/versions/2/diff", headers=owner.h).json()
    assert diff["from"] == 1 and diff["files"][0]["status"] == "modified"
    assert "+        title: Orders" in diff["files"][0]["diff"]


def test_an_invalid_save_names_file_cube_member_line_and_changes_nothing(client, world):
    owner = world.people["owner"]
    put_model(client, owner, world.a, {"orders.yml": ORDERS})
    bad = ORDERS.replace("type: string", "type: text")
    r = put_model(client, owner, world.a, {"orders.yml": bad, "more.yml": "cubes: [oops"})
    assert r.status_code == 422
    errors = r.json()["errors"]
    wrong_type = next(e for e in errors if e["file"] == "orders.yml")
    assert wrong_type | {"cube": "orders", "member": "status", "line": 11} == wrong_type
    assert "type 'text' is not a dimension type" in wrong_type["message"]
    assert any(e["file"] == "more.yml" and "YAML syntax" in e["message"] for e in errors)
    current = client.get(f"/api/v1/orgs/{world.a}/semantic/model", headers=owner.h).json()
    assert current["version"] == 1 and current["files"] == {"orders.yml": ORDERS}
    checked = client.post(
        f"/api/v1/orgs/{world.a}/semantic/model/validate",
        json={"files": {"orders.yml": bad}},
        headers=owner.h,
    ).json()
    assert checked["valid"] is False and checked["errors"][0]["member"] == "status"


def test_file_edits_and_bad_file_names(client, world):
    owner = world.people["owner"]
    url = f"/api/v1/orgs/{world.a}/semantic/model/files"
    r = client.put(f"{url}/sales/orders.yml", json={"content": ORDERS}, headers=owner.h)
    assert r.status_code == 201 and r.json()["file_names"] == ["sales/orders.yml"]
    bad = client.put(f"{url}/templates/x.yml", json={"content": ORDERS}, headers=owner.h)
    assert bad.status_code == 422 and "templates/ is reserved" in bad.text
    assert client.delete(f"{url}/sales/orders.yml", headers=owner.h).json()["version"] == 2
    assert client.delete(f"{url}/nope.yml", headers=owner.h).status_code == 404


def test_templates_are_enabled_per_organization_and_extended(client, world):
    owner = world.people["owner"]
    listed = client.get(f"/api/v1/orgs/{world.a}/semantic/templates", headers=owner.h).json()
    names = {t["name"] for t in listed}
    assert {"ecommerce_attribution", "paid_performance"} <= names
    extension = """cubes:
  - name: my_orders
    extends: orders
    measures:
      - name: big_orders
        type: count
        filters:
          - sql: "{CUBE}.revenue > 100"
"""
    r = put_model(
        client, owner, world.a, {"mine.yml": extension}, templates=["ecommerce_attribution"]
    )
    assert r.status_code == 201, r.text
    assert r.json()["templates"] == ["ecommerce_attribution"]
    listed = client.get(f"/api/v1/orgs/{world.a}/semantic/templates", headers=owner.h).json()
    assert {t["name"]: t["enabled"] for t in listed}["ecommerce_attribution"] is True
    # Org B has not enabled it: extending it there is an error naming the cube.
    b = put_model(client, world.b_owner, world.b, {"mine.yml": extension})
    assert b.status_code == 422 and "extends an unknown cube 'orders'" in b.text
    unknown = put_model(client, owner, world.a, {"mine.yml": extension}, templates=["nope"])
    assert unknown.status_code == 422 and "unknown template 'nope'" in unknown.text


def test_viewers_read_but_cannot_save(client, world):
    owner = world.people["owner"]
    viewer = join(client, owner, world.a, "v@a.example", "viewer")
    put_model(client, owner, world.a, {"orders.yml": ORDERS})
    assert client.get(f"/api/v1/orgs/{world.a}/semantic/model", headers=viewer.h).status_code == 200
    assert put_model(client, viewer, world.a, {"orders.yml": ORDERS + "\n"}).status_code == 403
    r = client.post(f"/api/v1/orgs/{world.a}/semantic/tokens", json={}, headers=viewer.h)
    assert r.status_code == 403


def test_signing_keys_show_the_secret_once_and_tokens_carry_the_org(client, world):
    owner = world.people["owner"]
    url = f"/api/v1/orgs/{world.a}/semantic"
    created = client.post(f"{url}/keys", json={"label": "shop app"}, headers=owner.h).json()
    assert len(created["secret"]) > 40
    listed = client.get(f"{url}/keys", headers=owner.h).json()
    assert created["secret"] not in str(listed) and listed[0]["secret"] == "••••••••"
    key = api_key(client, owner, world.a, ["semantic"])["key"]
    r = client.post(
        f"{url}/tokens",
        json={"claims": {"sub": "u1", "store_id": 7}, "expires_in": 600},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, created["secret"], algorithms=["HS256"])
    assert header["kid"] == created["kid"] and claims["org"] == world.a
    assert claims["store_id"] == 7 and claims["exp"] - claims["iat"] == 600
    for bad, field in (
        ({"claims": {"org": "other"}}, "claims.org"),
        ({"expires_in": 10}, "expires_in"),
    ):
        r = client.post(f"{url}/tokens", json=bad, headers=owner.h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert client.delete(f"{url}/keys/{created['id']}", headers=owner.h).status_code == 204
    revoked = client.get(f"{url}/keys", headers=owner.h).json()
    assert next(k for k in revoked if k["id"] == created["id"])["revoked_at"]
