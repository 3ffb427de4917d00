"""Sign-up, login, JWTs, rotating refresh tokens with reuse detection, login throttling."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tenantry.core.security import Keys
from tests.helpers import PASSWORD, create_org, signup


def _keys(client) -> Keys:
    return client.app.state.keys


def test_signup_then_login_with_any_email_case(client):
    signup(client, "Ada.Lovelace@Example.com", name="Ada")
    r = client.post(
        "/api/v1/auth/login", json={"email": "ada.lovelace@EXAMPLE.com", "password": PASSWORD}
    )
    assert r.status_code == 200
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    ).json()
    assert me["email"] == "Ada.Lovelace@example.com" and me["name"] == "Ada"


def test_email_is_unique_case_insensitively(client):
    signup(client, "ada@example.com")
    r = client.post("/api/v1/auth/signup", json={"email": "ADA@example.com", "password": PASSWORD})
    assert r.status_code == 409
    assert r.json()["errors"] == [{"field": "email", "message": "is already registered"}]


@pytest.mark.parametrize(
    ("password", "needle"),
    [("short", "at least 8 characters"), ("é" * 37, "74 bytes long; the limit is 72 bytes")],
)
def test_password_bounds_have_clear_errors(client, password, needle):
    r = client.post("/api/v1/auth/signup", json={"email": "ada@example.com", "password": password})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"
    assert needle in r.json()["detail"]
    # Nothing half-written: the address is still free.
    assert (
        client.post(
            "/api/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
        ).status_code
        == 201
    )


def test_missing_accounts_cost_a_full_bcrypt_check(settings):
    from tenantry.core.security import _dummy_hash

    # The comparison hash for unknown emails has the configured cost, like real ones.
    assert _dummy_hash(settings.bcrypt_rounds).startswith(
        f"$2b${settings.bcrypt_rounds:02d}$".encode()
    )
    assert _dummy_hash(12).startswith(b"$2b$12$")


def test_72_byte_password_is_accepted(client):
    signup(client, "ada@example.com", password="x" * 72)
    r = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "x" * 72})
    assert r.status_code == 200
    # Over the limit at login: refused like a wrong password, not a crash.
    r = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "x" * 73})
    assert r.status_code == 401


def test_invalid_email_names_the_field(client):
    r = client.post("/api/v1/auth/signup", json={"email": "not-an-email", "password": PASSWORD})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"


# --- JWT ------------------------------------------------------------------------------------


def _claims(person) -> dict:
    payload = person.access.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _unsigned(header: dict, claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(claims)}."


def _refused(client, token: str) -> None:
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.filterwarnings("ignore:The HMAC key")  # the HS512 forgery uses the HS256 key
def test_jwt_forgeries_are_refused(client):
    ada = signup(client, "ada@example.com")
    assert client.get("/api/v1/me", headers=ada.h).status_code == 200
    claims = _claims(ada)
    key = _keys(client).jwt
    # Tampered payload, original signature.
    head, _, sig = ada.access.split(".")
    forged = dict(claims, sub="0" * 32)
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    _refused(client, f"{head}.{body}.{sig}")
    # Flipped signature.
    _refused(client, ada.access[:-2] + ("AA" if not ada.access.endswith("AA") else "BB"))
    # alg: none.
    _refused(client, _unsigned({"alg": "none", "typ": "JWT"}, claims))
    # Right key, wrong algorithm.
    _refused(client, jwt.encode(claims, key, algorithm="HS512"))
    # Right algorithm, wrong key.
    _refused(client, jwt.encode(claims, b"x" * 32, algorithm="HS256"))
    # Expired.
    past = datetime.now(UTC) - timedelta(minutes=5)
    _refused(
        client,
        jwt.encode(
            dict(claims, iat=past - timedelta(minutes=20), exp=past), key, algorithm="HS256"
        ),
    )
    # Missing expiry.
    _refused(
        client, jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key, algorithm="HS256")
    )
    # Another token type signed with a different purpose key (an invitation) is not an access token.
    _refused(client, jwt.encode(dict(claims, typ="invite"), key, algorithm="HS256"))


def test_expired_access_token_message_says_what_to_do(client):
    ada = signup(client, "ada@example.com")
    past = datetime.now(UTC) - timedelta(minutes=1)
    token = jwt.encode(dict(_claims(ada), exp=past), _keys(client).jwt, algorithm="HS256")
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert "expired" in r.json()["detail"]


# --- refresh tokens -------------------------------------------------------------------------


def _refresh(client, token):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_reuse_revokes_the_family(client):
    ada = signup(client, "ada@example.com")
    first = _refresh(client, ada.refresh)
    assert first.status_code == 200
    second_token = first.json()["refresh_token"]
    assert second_token != ada.refresh
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
        ).status_code
        == 200
    )
    # The spent token presented again: reuse → 401 and the whole family is revoked…
    r = _refresh(client, ada.refresh)
    assert r.status_code == 401 and "already used" in r.json()["detail"]
    # …so even the legitimate newest token no longer works.
    assert _refresh(client, second_token).status_code == 401


def test_reuse_does_not_touch_other_logins(client):
    ada = signup(client, "ada@example.com")
    other = client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    ).json()
    _refresh(client, ada.refresh)
    _refresh(client, ada.refresh)  # reuse in the first family
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_logout_revokes_refresh_token(client):
    ada = signup(client, "ada@example.com")
    assert (
        client.post("/api/v1/auth/logout", json={"refresh_token": ada.refresh}).status_code == 204
    )
    assert _refresh(client, ada.refresh).status_code == 401


def test_unknown_refresh_token_is_refused(client):
    assert _refresh(client, "rt_nonsense").status_code == 401


def test_password_change_revokes_refresh_tokens(client):
    ada = signup(client, "ada@example.com")
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": "wrong-one-x", "new_password": "new-password-1"},
        headers=ada.h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "current_password"
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "new-password-1"},
        headers=ada.h,
    )
    assert r.status_code == 204
    assert _refresh(client, ada.refresh).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": "new-password-1"}
        ).status_code
        == 200
    )


def test_api_keys_cannot_use_user_routes(client):
    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")
    key = client.post(
        "/api/v1/orgs/acme/api-keys", json={"name": "k", "scopes": ["read"]}, headers=ada.h
    ).json()["key"]
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and "belong to one organization" in r.json()["detail"]


# --- throttling -----------------------------------------------------------------------------


def _login(client, email, password, addr="10.0.0.1"):
    return client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"x-forwarded-for": addr},
    )


def test_login_is_throttled_per_account(client, settings):
    settings.trust_proxy_headers = True
    signup(client, "ada@example.com")
    for i in range(settings.login_max_failures_per_account):
        assert _login(client, "ada@example.com", "wrong-password", f"10.0.0.{i}").status_code == 401
    r = _login(client, "ada@example.com", PASSWORD, "10.0.1.1")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "this account" in r.json()["detail"] and r.json()["retry_after"] > 0
    # Another account from a fresh address is unaffected.
    signup(client, "bob@example.com")
    assert _login(client, "bob@example.com", PASSWORD, "10.0.2.2").status_code == 200


def test_login_is_throttled_per_address(client, settings):
    settings.trust_proxy_headers = True
    settings.login_max_failures_per_address = 3
    signup(client, "ada@example.com")
    for i in range(3):
        assert (
            _login(client, f"nobody{i}@example.com", "wrong-password", "10.9.9.9").status_code
            == 401
        )
    r = _login(client, "ada@example.com", PASSWORD, "10.9.9.9")
    assert r.status_code == 429 and "your address" in r.json()["detail"]
    assert _login(client, "ada@example.com", PASSWORD, "10.9.9.10").status_code == 200


def test_successful_login_clears_account_failures(client, settings):
    signup(client, "ada@example.com")
    for _ in range(settings.login_max_failures_per_account - 1):
        _login(client, "ada@example.com", "wrong-password")
    assert _login(client, "ada@example.com", PASSWORD).status_code == 200
    for _ in range(settings.login_max_failures_per_account - 1):
        _login(client, "ada@example.com", "wrong-password")
    assert _login(client, "ada@example.com", PASSWORD).status_code == 200


def test_throttle_is_shared_between_replicas_through_redis(requires_redis, settings):
    """Two app instances (two replicas) see one failure count when Redis is configured."""
    from fastapi.testclient import TestClient

    from tenantry.app import create_app

    settings.redis_url = requires_redis
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        signup(one, "ada@example.com")
        for i in range(settings.login_max_failures_per_account):
            replica = one if i % 2 else two
            assert _login(replica, "ada@example.com", "wrong-password").status_code == 401
        assert _login(one, "ada@example.com", PASSWORD).status_code == 429
        assert _login(two, "ada@example.com", PASSWORD).status_code == 429


def test_guessing_the_current_password_is_throttled(client, settings):
    ada = signup(client, "ada@example.com")
    body = {"current_password": "guess-guess", "new_password": "new-password-1"}
    for _ in range(settings.login_max_failures_per_account):
        assert client.post("/api/v1/me/password", json=body, headers=ada.h).status_code == 422
    r = client.post(
        "/api/v1/me/password", json=dict(body, current_password=PASSWORD), headers=ada.h
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
