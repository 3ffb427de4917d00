"""The connections pages: forms from each kind's schema, secrets write-only, Test inline."""

from __future__ import annotations

import re

from tests.connections.test_api import _org_id, _sqlite_file
from tests.web.test_pages import browser_login, form_token


def test_admin_creates_tests_and_edits_a_connection_in_the_browser(client, settings, world):
    _sqlite_file(settings, _org_id(client, world.people["owner"], world.a))
    browser_login(client, "admin@a.example")
    base = f"/o/{world.a}/connections"
    page = client.get(base).text
    assert 'href="/o/org-a/connections/new?kind=postgres"' in page and "No connections yet" in page

    form = client.get(f"{base}/new?kind=postgres").text
    for field in ("host", "port", "database", "user", "password", "sslmode"):
        assert f'name="{field}"' in form
    assert 'type="password"' in form and 'value="5432"' in form

    token = form_token(client, f"{base}/new?kind=sqlite")
    r = client.post(
        f"{base}/new",
        data={"csrf_token": token, "kind": "sqlite", "name": "Shop", "path": "/etc/passwd"},
    )
    assert r.status_code == 422 and 'id="e-path"' in r.text and "absolute server path" in r.text
    r = client.post(
        f"{base}/new",
        data={"csrf_token": token, "kind": "sqlite", "name": "Shop", "path": "shop.db"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    detail = r.headers["location"]
    r = client.post(f"{detail}/test", data={"csrf_token": form_token(client, detail)})
    assert (
        'data-testid="test-result"' in r.text and "Connected." in r.text and "1 table(s)" in r.text
    )
    assert "Shop" in client.get(base).text


def test_secrets_are_never_sent_back_to_the_browser(client, world, settings):
    browser_login(client, "admin@a.example")
    base = f"/o/{world.a}/connections"
    token = form_token(client, f"{base}/new?kind=postgres")
    data = {
        "csrf_token": token,
        "kind": "postgres",
        "name": "PG",
        "host": "db.example.com",
        "database": "shop",
        "user": "reader",
        "password": "s3cret-pass-XYZ",
    }
    r = client.post(f"{base}/new", data=data, follow_redirects=False)
    detail = r.headers["location"]
    page = client.get(detail).text
    assert "s3cret-pass-XYZ" not in page and "saved — leave empty to keep" in page
    # Saving the form without typing the password keeps it.
    token = form_token(client, detail)
    r = client.post(
        detail,
        data={**data, "csrf_token": token, "password": "", "user": "reader2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    api = client.get(f"/api/v1/orgs/{world.a}/connections", headers=world.people["admin"].h).json()[
        "items"
    ][0]
    assert api["config"]["user"] == "reader2" and api["config"]["password"] == "********"


def test_viewers_see_connections_but_cannot_change_them(client, world, settings):
    owner = world.people["owner"]
    _sqlite_file(settings, _org_id(client, owner, world.a))
    conn = client.post(
        f"/api/v1/orgs/{world.a}/connections",
        json={"name": "Shop", "kind": "sqlite", "config": {"path": "shop.db"}},
        headers=owner.h,
    ).json()
    browser_login(client, "viewer@a.example")
    page = client.get(f"/o/{world.a}/connections").text
    assert "Shop" in page and 'data-testid="new-connection"' not in page
    detail = client.get(f"/o/{world.a}/connections/{conn['id']}").text
    assert "Test connection" not in detail and not re.search(r"<button[^>]*>Save", detail)
    assert client.get(f"/o/{world.a}/connections/new?kind=sqlite").status_code == 403


def test_every_kind_has_a_working_form(client, world):
    from tenantry.connections.kinds import KINDS

    browser_login(client, "admin@a.example")
    for name, kind in KINDS.items():
        page = client.get(f"/o/{world.a}/connections/new?kind={name}")
        assert page.status_code == 200, name
        for field in kind.config.model_fields:
            assert f'name="{field}"' in page.text, (name, field)
