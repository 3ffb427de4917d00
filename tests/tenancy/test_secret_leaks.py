"""Secrets never appear in API responses, logs or audit entries."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from tenantry.core.secrets import redact
from tenantry.tenancy.models import AuditEvent, OrgSecret
from tests.helpers import api_key, create_org, signup

DB_PASSWORD = "pg-P@ssw0rd-do-not-leak"
USER_PASSWORD = "user-pass-do-not-leak"


@pytest.fixture
def captured_logs():
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Grab(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(message)s %(args)s"))
    # Everything Tenantry and the libraries log at DEBUG, plus SQL statements as an operator
    # would see them with SQL logging turned on (INFO).
    loggers = [logging.getLogger(), logging.getLogger("tenantry"), logging.getLogger("sqlalchemy")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO if lg.name == "sqlalchemy" else logging.DEBUG)
    yield records
    for lg, level in zip(loggers, old, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_secrets_stay_out_of_responses_logs_and_audit(client, captured_logs):
    ada = signup(client, "ada@example.com", password=USER_PASSWORD)
    create_org(client, ada, "Acme")
    key = api_key(client, ada, "acme", ["read", "admin"])["key"]
    responses = []

    def call(method, url, **kw):
        r = client.request(method, url, **kw)
        responses.append(r.text + str(dict(r.headers)))
        return r

    kh = {"Authorization": f"Bearer {key}"}
    call(
        "PUT",
        "/api/v1/orgs/acme/secrets",
        json={"name": "DB_PASSWORD", "value": DB_PASSWORD},
        headers=ada.h,
    )
    call(
        "PUT",
        "/api/v1/orgs/acme/secrets",
        json={"name": "DB_PASSWORD", "value": DB_PASSWORD + "2"},
        headers=kh,
    )
    # Invalid input carrying a secret: the error names the field, never echoes the value.
    bad = call(
        "PUT",
        "/api/v1/orgs/acme/secrets",
        json={"name": "bad name", "value": DB_PASSWORD},
        headers=ada.h,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "name"
    call(
        "PUT",
        "/api/v1/orgs/acme/secrets",
        json={"name": "X", "value": {"nested": DB_PASSWORD}},
        headers=ada.h,
    )
    call(
        "POST",
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": USER_PASSWORD + "x"},
    )
    call("POST", "/api/v1/auth/signup", json={"email": "bad", "password": USER_PASSWORD})
    call("GET", "/api/v1/orgs/acme/secrets", headers=ada.h)
    call("GET", "/api/v1/orgs/acme/api-keys", headers=kh)
    call("GET", "/api/v1/orgs/acme/audit?size=200", headers=ada.h)
    call("GET", "/api/v1/orgs/acme", headers={"Authorization": f"Bearer {key}x"})
    call("GET", "/openapi.json")

    listed = client.get("/api/v1/orgs/acme/secrets", headers=ada.h).json()["items"]
    assert listed[0]["name"] == "DB_PASSWORD" and listed[0]["value"] == "********"

    everything = "\n".join(responses + captured_logs)
    for secret in (DB_PASSWORD, USER_PASSWORD, key, ada.refresh):
        assert secret not in everything

    async def stored():
        async with client.app.state.db.sessionmaker() as s:
            audit = (await s.scalars(sa.select(AuditEvent))).all()
            raw = (
                (await s.execute(sa.select(sa.type_coerce(OrgSecret.value, sa.Text))))
                .scalars()
                .all()
            )
            return audit, raw

    audit, raw = client.portal.call(stored)
    dumped = "\n".join(f"{e.before} {e.after} {e.actor_label}" for e in audit)
    for secret in (DB_PASSWORD, USER_PASSWORD, key):
        assert secret not in dumped
    # At rest the value is ciphertext.
    assert raw and all(DB_PASSWORD not in v for v in raw)


def test_redact_masks_secret_looking_keys_recursively():
    data = {
        "host": "db",
        "password": "p",
        "nested": {"api_key": "k", "ok": 1},
        "list": [{"token": "t"}],
    }
    assert redact(data) == {
        "host": "db",
        "password": "********",
        "nested": {"api_key": "********", "ok": 1},
        "list": [{"token": "********"}],
    }
    assert redact({"value": "v"}, frozenset({"value"})) == {"value": "********"}
