"""Server-rendered pages: sessions, CSRF, forms with inline errors, flash messages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers import PASSWORD, create_org, signup

TOKEN_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def form_token(client: TestClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    m = TOKEN_RE.search(r.text)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def browser_login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    client.cookies.clear()
    token = form_token(client, "/login")
    r = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_signup_sets_a_hardened_session_cookie(client):
    token = form_token(client, "/signup")
    r = client.post(
        "/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/orgs/new"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("tenantry_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Ada" in client.get("/orgs").text


def test_forms_without_a_valid_csrf_token_are_refused(client):
    signup(client, "ada@example.com")
    browser_login(client, "ada@example.com")
    r = client.post("/orgs/new", data={"name": "Evil Corp"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(
        "/orgs/new", data={"name": "Evil Corp", "csrf_token": "0" * 64}, follow_redirects=False
    )
    assert r.status_code == 403
    # A token from another session does not work either.
    other = TestClient(client.app)
    other_token = form_token(other, "/login")
    r = client.post(
        "/orgs/new", data={"name": "Evil Corp", "csrf_token": other_token}, follow_redirects=False
    )
    assert r.status_code == 403
    # A cross-site origin is refused even with the right token.
    token = form_token(client, "/orgs/new")
    r = client.post(
        "/orgs/new",
        data={"name": "Evil Corp", "csrf_token": token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "Evil Corp" not in client.get("/orgs").text
    r = client.post(
        "/orgs/new", data={"name": "Good Corp", "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/o/good-corp"


def test_login_failure_shows_an_inline_error_and_keeps_the_email(client):
    signup(client, "ada@example.com")
    token = form_token(client, "/login")
    r = client.post(
        "/login",
        data={"email": "ada@example.com", "password": "wrong-password", "csrf_token": token},
    )
    assert r.status_code == 401
    assert "Email or password is incorrect" in r.text
    assert 'value="ada@example.com"' in r.text


def test_form_errors_name_the_field(client):
    signup(client, "ada@example.com")
    browser_login(client, "ada@example.com")
    token = form_token(client, "/orgs/new")
    r = client.post("/orgs/new", data={"name": "Acme", "slug": "Bad Slug!", "csrf_token": token})
    assert r.status_code == 422
    assert 'id="e-slug"' in r.text and "is not a valid slug" in r.text
    assert 'value="Acme"' in r.text


def test_pages_redirect_to_login_and_back(client):
    owner = signup(client, "ada@example.com")
    create_org(client, owner, "Acme")
    r = client.get("/o/acme/members", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/o/acme/members"
    token = form_token(client, "/login?next=/o/acme/members")
    r = client.post(
        "/login",
        data={
            "email": "ada@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/o/acme/members",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/o/acme/members"


def test_login_never_redirects_off_site(client):
    signup(client, "ada@example.com")
    token = form_token(client, "/login")
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        r = client.post(
            "/login",
            data={
                "email": "ada@example.com",
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/orgs", target
        client.cookies.pop("tenantry_session")
        token = form_token(client, "/login")


def test_logout_ends_the_session(client):
    signup(client, "ada@example.com")
    browser_login(client, "ada@example.com")
    token = form_token(client, "/orgs")
    old_cookie = client.cookies.get("tenantry_session")
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"] == "/login"
    # Even a copy of the old cookie no longer works.
    client.cookies.set("tenantry_session", old_cookie)
    assert client.get("/orgs", follow_redirects=False).status_code == 303


def test_refused_action_returns_with_a_flash_message(client):
    owner = signup(client, "ada@example.com")
    create_org(client, owner, "Acme")
    browser_login(client, "ada@example.com")
    page = client.get("/o/acme/members").text
    member = re.search(r'action="/o/acme/members/(\w+)/remove"', page).group(1)
    token = form_token(client, "/o/acme/members")
    r = client.post(
        f"/o/acme/members/{member}/remove",
        data={"csrf_token": token},
        headers={"referer": "http://testserver/o/acme/members"},
    )
    assert r.status_code == 200
    assert "last owner" in r.text


def test_viewer_does_not_see_admin_areas(client, world):
    browser_login(client, "viewer@a.example")
    page = client.get("/o/org-a").text
    assert 'data-nav="members"' in page
    for area in ("api_keys", "secrets", "audit", "settings"):
        assert f'data-nav="{area}"' not in page
    assert client.get("/o/org-a/api-keys").status_code == 403
    members = client.get("/o/org-a/members").text
    assert "Invite someone" not in members and "/role" not in members


def test_security_headers_on_pages(client):
    r = client.get("/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]
