"""Health endpoints and the one error format."""

from __future__ import annotations


def test_health_and_request_ids(client):
    r = client.get("/healthz", headers={"x-request-id": "trace-123"})
    assert r.json() == {"status": "ok"} and r.headers["x-request-id"] == "trace-123"
    # A hostile request id is replaced, not echoed.
    r = client.get("/healthz", headers={"x-request-id": "<script>"})
    assert r.headers["x-request-id"] != "<script>"
    assert client.get("/readyz").json()["status"] == "ready"


def test_errors_are_problem_details(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert set(r.json()) >= {"type", "title", "status", "detail"}
    r = client.post("/api/v1/auth/login", json={"email": "a@b.example"})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "password", "message": "is required"}]
    r = client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "Traceback" not in r.text


def test_openapi_is_served(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/orgs/{org}/members" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_unexpected_errors_keep_request_id_and_headers_and_hide_internals(client):
    import sqlalchemy as sa

    from tests.helpers import create_org, signup

    ada = signup(client, "ada@example.com")
    create_org(client, ada, "Acme")

    async def break_table():
        async with client.app.state.db.engine.begin() as conn:
            await conn.execute(sa.text("DROP TABLE org_secrets"))

    async def restore_table():
        from tenantry.tenancy.models import OrgSecret

        async with client.app.state.db.engine.begin() as conn:
            await conn.run_sync(OrgSecret.__table__.create)

    client.portal.call(break_table)
    try:
        r = client.get("/api/v1/orgs/acme/secrets", headers={**ada.h, "x-request-id": "req-500"})
    finally:
        client.portal.call(restore_table)  # the PostgreSQL test database is shared
    assert r.status_code == 500
    assert (
        r.headers["x-request-id"] == "req-500" and r.headers["x-content-type-options"] == "nosniff"
    )
    body = r.json()
    assert body["title"] == "Internal error" and "req-500" in body["detail"]
    assert "org_secrets" not in r.text and "Traceback" not in r.text and "SELECT" not in r.text


def test_requests_are_logged_with_request_id_and_organization(client):
    import logging

    from tenantry.core.logging import ContextFilter, JsonFormatter
    from tests.helpers import create_org, signup

    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Grab()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("tenantry.access")
    access.addHandler(handler)
    try:
        ada = signup(client, "ada@example.com")
        create_org(client, ada, "Acme")
        client.get("/api/v1/orgs/acme/members", headers={**ada.h, "x-request-id": "trace-9"})
        client.get("/healthz")
    finally:
        access.removeHandler(handler)
    import json

    entry = json.loads(lines[-1])
    assert entry["message"].startswith("GET /api/v1/orgs/acme/members 200 ")
    assert entry["request_id"] == "trace-9" and entry["org"] == "acme"
    assert not any("/healthz" in line for line in lines)
