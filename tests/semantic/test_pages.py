"""The semantic layer's pages: model files and versions, the editor (checked as you type, a
refused save keeps the text), diffs, templates, the playground shell and embed tokens."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

import jwt

from tests.semantic.helpers import ORDERS, put_model
from tests.web.test_pages import browser_login, form_token


def _put(client, who, org, files, **extra):
    r = put_model(client, who, org, files, **extra)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _versions(client, who, org) -> list[int]:
    page = client.get(f"/api/v1/orgs/{org}/semantic/versions", headers=who.h).json()
    return [v["version"] for v in page["items"]]


def test_overview_lists_files_templates_and_history(client, world):
    owner = world.people["owner"]
    browser_login(client, "owner@a.example")
    base = f"/o/{world.a}/semantic"
    empty = client.get(base)
    assert empty.status_code == 200
    assert "No model yet" in empty.text and 'data-nav="semantic"' in empty.text
    assert f'href="/o/{world.a}/playground"' in empty.text  # the sidebar entries are live

    _put(client, owner, world.a, {"sales/orders.yml": ORDERS}, message="first")
    _put(client, owner, world.a, {"sales/orders.yml": ORDERS.replace("status", "state")})
    page = client.get(base).text
    assert "Version <strong>2</strong>" in page
    assert f'href="{base}/files/sales/orders.yml"' in page
    assert 'data-template="ecommerce_attribution"' in page  # templates listed separately
    assert 'data-version="1"' in page and "first" in page and f'href="{base}/versions/2"' in page
    # Paginated history.
    one = client.get(base + "?page=2&size=1").text
    assert 'data-version="1"' in one and 'data-version="2"' not in one and "Page 2 of 2" in one


def test_editor_validates_live_refuses_bad_saves_and_saves_versions(client, world):
    owner = world.people["owner"]
    _put(client, owner, world.a, {"orders.yml": ORDERS})
    browser_login(client, "editor@a.example")
    url = f"/o/{world.a}/semantic/files/orders.yml"
    page = client.get(url)
    assert page.status_code == 200
    assert "data-yaml-editor" in page.text and "/static/semantic.js" in page.text
    assert "primary_key: true" in page.text and 'data-testid="save"' in page.text
    token = form_token(client, url)

    # The live check: this file as typed, with the other files; nothing is stored.
    bad = ORDERS.replace("type: string", "type: text")
    r = client.post(
        f"/o/{world.a}/semantic/validate",
        data={"csrf_token": token, "path": "orders.yml", "original": "orders.yml", "content": bad},
    )
    assert r.status_code == 200 and r.json()["valid"] is False
    problem = r.json()["errors"][0]
    assert problem | {"file": "orders.yml", "cube": "orders", "member": "status"} == problem
    assert problem["line"] == 11
    ok = client.post(
        f"/o/{world.a}/semantic/validate",
        data={"csrf_token": token, "path": "orders.yml", "content": ORDERS},
    )
    assert ok.json() == {"valid": True, "file": "orders.yml", "errors": []}

    # A refused save lists every problem with its line, keeps the text, stores nothing.
    r = client.post(url, data={"csrf_token": token, "content": bad, "message": "oops"})
    assert r.status_code == 422
    assert 'data-line="11"' in r.text and "line 11" in r.text and "orders.status" in r.text
    assert "type: text" in r.text and 'value="oops"' in r.text
    assert _versions(client, owner, world.a) == [1]

    # A good save is a new version, with its message.
    good = ORDERS.replace("type: count", "type: count\n        title: Orders")
    r = client.post(
        url, data={"csrf_token": token, "content": good, "message": "title"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == url
    after = client.get(url).text
    assert "Saved version 2." in after and "title: Orders" in after
    assert f'href="/o/{world.a}/semantic/versions/2#file-orders.yml"' in after
    assert _versions(client, owner, world.a) == [2, 1]

    # The diff view colours added and removed lines.
    diff = client.get(f"/o/{world.a}/semantic/versions/2")
    assert diff.status_code == 200
    assert '<span class="diff-line diff-add">+        title: Orders</span>' in diff.text
    assert "Changes from version 1 to 2" in diff.text

    # A new file; its name is checked, an existing name refused.
    new = client.get(f"/o/{world.a}/semantic/new")
    assert new.status_code == 200 and 'name="path"' in new.text
    more = ORDERS.replace("name: orders", "name: returns").replace("marts.orders", "marts.r")
    r = client.post(
        f"/o/{world.a}/semantic/new",
        data={"csrf_token": token, "path": "orders.yml", "content": more},
    )
    assert r.status_code == 422 and "exists already" in r.text
    r = client.post(
        f"/o/{world.a}/semantic/new",
        data={"csrf_token": token, "path": "returns.yml", "content": more},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/o/{world.a}/semantic/files/returns.yml"
    # …and deleting it is another version.
    r = client.post(
        f"/o/{world.a}/semantic/delete/returns.yml",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and _versions(client, owner, world.a) == [4, 3, 2, 1]
    assert client.get(f"/o/{world.a}/semantic/files/returns.yml").status_code == 404


def test_a_viewer_reads_but_cannot_save(client, world):
    owner = world.people["owner"]
    _put(client, owner, world.a, {"orders.yml": ORDERS})
    browser_login(client, "viewer@a.example")
    url = f"/o/{world.a}/semantic/files/orders.yml"
    page = client.get(url)
    assert page.status_code == 200 and "read-only" in page.text
    assert "readonly" in page.text and 'data-testid="save"' not in page.text
    token = form_token(client, url)
    changed = ORDERS.replace("status", "state")
    r = client.post(url, data={"csrf_token": token, "content": changed})
    assert r.status_code == 403
    r = client.post(f"/o/{world.a}/semantic/delete/orders.yml", data={"csrf_token": token})
    assert r.status_code == 403
    assert client.get(f"/o/{world.a}/semantic/new").status_code == 403
    assert client.get(f"/o/{world.a}/semantic/embed").status_code == 403
    assert _versions(client, owner, world.a) == [1]


def test_enabling_a_template_saves_a_version(client, world):
    owner = world.people["owner"]
    _put(client, owner, world.a, {"orders.yml": ORDERS})
    browser_login(client, "owner@a.example")
    base = f"/o/{world.a}/semantic"
    token = form_token(client, base)
    r = client.post(
        base + "/templates",
        data={"csrf_token": token, "templates": "paid_performance"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    model = client.get(f"/api/v1/orgs/{world.a}/semantic/model", headers=owner.h).json()
    assert model["version"] == 2 and model["templates"] == ["paid_performance"]
    assert model["message"] == "Enable paid_performance"
    page = client.get(base).text
    assert "Saved version 2." in page
    assert re.search(r'value="paid_performance"\s+checked', page)
    diff = client.get(base + "/versions/2").text
    assert 'data-testid="template-changes"' in diff and "paid_performance" in diff
    # Saving the same choice again changes nothing; unticking it disables it.
    client.post(base + "/templates", data={"csrf_token": token, "templates": "paid_performance"})
    assert _versions(client, owner, world.a) == [2, 1]
    client.post(base + "/templates", data={"csrf_token": token})
    model = client.get(f"/api/v1/orgs/{world.a}/semantic/model", headers=owner.h).json()
    assert model["version"] == 3 and model["templates"] == []


def test_playground_page_carries_the_query_from_the_link(client, world):
    browser_login(client, "viewer@a.example")
    query = {"measures": ["orders.count"], "dimensions": ["orders.status"]}
    r = client.get(f"/o/{world.a}/playground?query={quote(json.dumps(query))}")
    assert r.status_code == 200
    assert 'data-nav="playground"' in r.text and "/static/semantic.js" in r.text
    assert f'data-org="{world.a}"' in r.text and 'data-api="/cubejs-api/v1"' in r.text
    carried = re.search(r'data-initial-query="([^"]*)"', r.text).group(1)
    assert json.loads(html.unescape(carried)) == query
    plain = client.get(f"/o/{world.a}/playground")
    assert 'data-initial-query=""' in plain.text
    broken = client.get(f"/o/{world.a}/playground?query=%7Bnope")
    assert broken.status_code == 200 and "not a JSON object" in broken.text


def test_embed_page_mints_tokens_and_manages_keys(client, world):
    browser_login(client, "admin@a.example")
    base = f"/o/{world.a}/semantic/embed"
    page = client.get(base)
    assert page.status_code == 200
    assert "@cubejs-client/core" in page.text and "http://testserver/cubejs-api/v1" in page.text
    assert "HS256" in page.text and "kid" in page.text
    token = form_token(client, base)

    # A signing key: its secret is shown once.
    r = client.post(base + "/keys", data={"csrf_token": token, "label": "storefront"})
    assert r.status_code == 200 and 'data-testid="new-key"' in r.text
    secret = re.search(r'<code id="new-key-secret">([^<]+)</code>', r.text).group(1)
    kid = re.search(r'data-kid="(sk_[0-9a-f]+)"', r.text).group(1)
    assert 'data-testid="new-key"' not in client.get(base).text  # once only

    # A token: shown once, signed with that key, carrying the claims.
    claims = {"sub": "user-7", "store_id": 7, "roles": ["manager"]}
    r = client.post(
        base + "/token",
        data={"csrf_token": token, "claims": json.dumps(claims), "expires_in": "600"},
    )
    assert r.status_code == 200 and 'data-testid="new-token"' in r.text
    minted = re.search(r'<code id="new-token">([^<]+)</code>', r.text).group(1)
    assert jwt.get_unverified_header(minted)["kid"] == kid
    decoded = jwt.decode(minted, secret, algorithms=["HS256"])
    assert decoded | claims == decoded and decoded["org"] == world.a
    assert decoded["exp"] - decoded["iat"] == 600
    assert f"cube('{minted}'" in html.unescape(r.text)  # the snippet is ready to paste

    # Bad claims are refused with the reason, keeping what was typed.
    r = client.post(base + "/token", data={"csrf_token": token, "claims": "{nope"})
    assert r.status_code == 422 and "not valid JSON" in r.text and "{nope" in r.text
    r = client.post(base + "/token", data={"csrf_token": token, "claims": '{"exp": 1}'})
    assert r.status_code == 422 and "set by Tenantry" in r.text

    # Revoking the key: the token stops working on the Cube API.
    key_id = kid.removeprefix("sk_")
    r = client.post(f"{base}/keys/{key_id}/revoke", data={"csrf_token": token})
    assert r.status_code == 200 and "revoked" in r.text
    client.cookies.clear()
    meta = client.get("/cubejs-api/v1/meta", headers={"Authorization": minted})
    assert meta.status_code == 403 and "revoked" in meta.json()["error"]


def test_another_organizations_member_gets_404_on_every_page(client, world):
    owner = world.people["owner"]
    _put(client, owner, world.a, {"orders.yml": ORDERS})
    key = client.post(
        f"/api/v1/orgs/{world.a}/semantic/keys", json={"label": "A"}, headers=owner.h
    ).json()
    browser_login(client, "owner@b.example")
    token = form_token(client, f"/o/{world.b}/semantic")
    a = f"/o/{world.a}"
    for url in (
        f"{a}/semantic",
        f"{a}/semantic/new",
        f"{a}/semantic/files/orders.yml",
        f"{a}/semantic/versions/1",
        f"{a}/playground",
        f"{a}/semantic/embed",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        f"{a}/semantic/templates",
        f"{a}/semantic/new",
        f"{a}/semantic/validate",
        f"{a}/semantic/files/orders.yml",
        f"{a}/semantic/delete/orders.yml",
        f"{a}/semantic/embed/token",
        f"{a}/semantic/embed/keys",
        f"{a}/semantic/embed/keys/{key['id']}/revoke",
        # A's key through B's own URL: like a missing one.
        f"/o/{world.b}/semantic/embed/keys/{key['id']}/revoke",
    ):
        r = client.post(url, data={"csrf_token": token, "content": "x"})
        assert r.status_code == 404, url
    # A's model and key are untouched, and B sees only its own (empty) model.
    assert _versions(client, owner, world.a) == [1]
    keys = client.get(f"/api/v1/orgs/{world.a}/semantic/keys", headers=owner.h).json()
    assert keys[0]["revoked_at"] is None
    assert "No model yet" in client.get(f"/o/{world.b}/semantic").text
    assert client.get(f"/o/{world.b}/semantic/files/orders.yml").status_code == 404
    assert client.get(f"/o/{world.b}/semantic/versions/1").status_code == 404
