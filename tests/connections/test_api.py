"""Connections through the API: schema-validated, secrets write-only, tests that really connect."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from tenantry.connections.storage import org_files


def _org_id(client, person, slug):
    return client.get(f"/api/v1/orgs/{slug}", headers=person.h).json()["id"]


def _sqlite_file(settings, org_id, name="shop.db"):
    path = org_files(settings, org_id) / name
    db = sqlite3.connect(path)
    db.execute("create table orders (id integer primary key, total real)")
    db.commit()
    db.close()
    return name


def test_file_connection_lifecycle(client, settings, world):
    owner, editor, viewer = (world.people[r] for r in ("owner", "editor", "viewer"))
    base = f"/api/v1/orgs/{world.a}/connections"
    name = _sqlite_file(settings, _org_id(client, owner, world.a))
    body = {"name": "Shop DB", "kind": "sqlite", "config": {"path": name}}
    assert client.post(base, json=body, headers=editor.h).status_code == 403  # admins manage
    r = client.post(base, json=body, headers=owner.h)
    assert r.status_code == 201, r.text
    conn = r.json()
    assert client.post(base, json=body, headers=owner.h).status_code == 409  # names are unique

    # Editors run tests, viewers read.
    t = client.post(f"{base}/{conn['id']}/test", headers=editor.h).json()
    assert t == {"ok": True, "message": "SQLite file; 1 table(s)", "elapsed_ms": t["elapsed_ms"]}
    listed = client.get(base, headers=viewer.h).json()
    assert listed["total"] == 1 and listed["items"][0]["last_test_ok"] is True
    assert client.post(f"{base}/{conn['id']}/test", headers=viewer.h).status_code == 403

    # Soft delete and restore.
    assert client.delete(f"{base}/{conn['id']}", headers=owner.h).status_code == 204
    assert client.get(f"{base}/{conn['id']}", headers=owner.h).status_code == 404
    assert client.get(f"{base}?deleted=true", headers=owner.h).json()["total"] == 1
    assert client.post(f"{base}/{conn['id']}/restore", headers=owner.h).status_code == 200
    actions = [
        e["action"]
        for e in client.get(
            f"/api/v1/orgs/{world.a}/audit?action=connection", headers=owner.h
        ).json()["items"]
    ]
    assert actions == ["connection.restore", "connection.delete", "connection.create"]


def test_file_paths_must_stay_in_the_organization_storage(client, settings, world):
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}/connections"
    for path in ("/etc/passwd", "../../other/files/x.db"):
        r = client.post(
            base, json={"name": "x", "kind": "sqlite", "config": {"path": path}}, headers=owner.h
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "config.path"
    # B's file is not reachable from A even by a valid-looking relative path.
    _sqlite_file(settings, _org_id(client, world.b_owner, world.b), "b-only.db")
    r = client.post(
        f"{base}/test", json={"kind": "sqlite", "config": {"path": "b-only.db"}}, headers=owner.h
    )
    assert r.json()["ok"] is False and "no file" in r.json()["message"]


def test_config_errors_name_the_field(client, world):
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}/connections"
    r = client.post(
        base,
        json={"name": "pg", "kind": "postgres", "config": {"host": "db", "port": "x"}},
        headers=owner.h,
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"config.port", "config.database", "config.user"} <= fields
    r = client.post(base, json={"name": "x", "kind": "oracle", "config": {}}, headers=owner.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    kinds = client.get(
        f"/api/v1/orgs/{world.a}/connection-kinds", headers=world.people["viewer"].h
    ).json()
    pg = next(k for k in kinds if k["name"] == "postgres")
    assert pg["secret_fields"] == ["password"]
    assert pg["config_schema"]["properties"]["password"]["anyOf"][0]["writeOnly"] is True


def test_internal_hosts_are_refused_unless_allowed(client, world):
    owner = world.people["owner"]
    cfg = {"host": "127.0.0.1", "port": 5432, "database": "x", "user": "x", "password": "pw-123456"}
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections/test",
        json={"kind": "postgres", "config": cfg},
        headers=owner.h,
    )
    result = r.json()
    assert result["ok"] is False
    assert (
        "loopback" in result["message"] and "TENANTRY_ALLOWED_PRIVATE_NETWORKS" in result["message"]
    )
    cfg["host"] = "169.254.169.254"  # cloud metadata
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections/test",
        json={"kind": "postgres", "config": cfg},
        headers=owner.h,
    )
    assert "link-local" in r.json()["message"]


def test_postgres_secrets_are_write_only_and_the_test_really_connects(
    client, settings, world, requires_postgres
):
    settings.allowed_private_networks = "127.0.0.0/8"
    owner = world.people["owner"]
    base = f"/api/v1/orgs/{world.a}/connections"
    url = urlsplit(requires_postgres.replace("+asyncpg", ""))
    cfg = {
        "host": url.hostname,
        "port": url.port or 5432,
        "database": url.path.lstrip("/"),
        "user": url.username or "postgres",
        "password": "not-needed-with-trust-1",
    }
    conn = client.post(
        base, json={"name": "pg", "kind": "postgres", "config": cfg}, headers=owner.h
    ).json()
    assert conn["config"]["password"] == "********"
    result = client.post(f"{base}/{conn['id']}/test", headers=owner.h).json()
    assert result["ok"] is True and result["message"].startswith("PostgreSQL ")
    # Changing another field keeps the stored password; sending the mask back keeps it too.
    r = client.patch(
        f"{base}/{conn['id']}",
        json={"config": {"schema_name": "public", "password": "********"}},
        headers=owner.h,
    )
    assert r.status_code == 200 and r.json()["config"]["password"] == "********"
    # A wrong database says so, and no response or audit entry carries the password.
    bad = client.post(
        f"{base}/test",
        json={"kind": "postgres", "config": {**cfg, "database": "nope_db"}},
        headers=owner.h,
    ).json()
    assert bad["ok"] is False and "nope_db" in bad["message"]
    everything = (
        str(client.get(base, headers=owner.h).json())
        + str(bad)
        + str(client.get(f"/api/v1/orgs/{world.a}/audit", headers=owner.h).json())
    )
    assert "not-needed-with-trust-1" not in everything


def test_mariadb_test_really_connects(client, settings, world, requires_mysql):
    settings.allowed_private_networks = "127.0.0.0/8"
    cfg = {
        "host": requires_mysql.hostname,
        "port": requires_mysql.port or 3306,
        "database": requires_mysql.path.lstrip("/"),
        "user": requires_mysql.username or "root",
        "password": requires_mysql.password,
    }
    r = client.post(
        f"/api/v1/orgs/{world.a}/connections/test",
        json={"kind": "mysql", "config": cfg},
        headers=world.people["owner"].h,
    )
    result = r.json()
    assert result["ok"] is True, result
    assert result["message"].startswith("MySQL/MariaDB ")
