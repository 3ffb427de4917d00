"""An organization's own database as its warehouse: pipelines load into it, queries read it."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import duckdb

from tests.conftest import _admin
from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline, query, run


def _shop(client, settings, world, rows=5):
    owner = world.people["owner"]
    make_sqlite(
        org_dir(client, settings, owner, world.a) / "shop.sqlite",
        [(i, "c", float(i), "2024-01-01") for i in range(1, rows + 1)],
    )
    return connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})


def _use(client, person, org, connection_id):
    return client.put(
        f"/api/v1/orgs/{org}/warehouse", json={"connection_id": connection_id}, headers=person.h
    )


def test_a_duckdb_file_of_the_organization_as_its_warehouse(client, settings, world):
    owner, editor, admin = world.people["owner"], world.people["editor"], world.people["admin"]
    source = _shop(client, settings, world)
    p = pipeline(client, editor, world.a, "Orders", source, {"mode": "table", "table": "orders"})
    assert run(client, editor, world.a, p["id"])["status"] == "succeeded"  # platform's warehouse
    own = connection(client, owner, world.a, "Own", "duckdb", {"path": "own/warehouse.duckdb"})
    assert _use(client, editor, world.a, own).status_code == 403
    refused = _use(client, admin, world.a, source)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "connection_id"
    r = _use(client, admin, world.a, own)
    assert r.status_code == 200, r.text
    assert r.json()["connection_id"] == own and r.json()["tables"] == []
    make_sqlite(
        org_dir(client, settings, owner, world.a) / "shop.sqlite",
        [(i, "c", float(i), "2024-01-01") for i in range(6, 9)],
    )
    assert run(client, editor, world.a, p["id"])["status"] == "succeeded"
    # The whole table, into the organization's own file (its state came with nothing).
    path = org_dir(client, settings, owner, world.a) / "own" / "warehouse.duckdb"
    conn = duckdb.connect(str(path), read_only=True)
    assert conn.execute("SELECT count(*) FROM raw.orders").fetchone() == (8,)
    conn.close()
    assert query(client, editor, world.a, "SELECT count(*) FROM raw.orders") == [[8]]
    # Back to the platform's: its data is where it was.
    back = _use(client, admin, world.a, None)
    assert back.status_code == 200 and back.json()["connection_id"] is None
    assert query(client, editor, world.a, "SELECT count(*) FROM raw.orders") == [[5]]
    events = client.get(f"/api/v1/orgs/{world.a}/audit", headers=owner.h).json()["items"]
    assert sum(e["action"] == "warehouse.update" for e in events) == 2


def test_a_postgres_database_of_the_organization_as_its_warehouse(
    client, settings, world, requires_postgres
):
    name = "own_" + uuid.uuid4().hex[:8]
    asyncio.run(_admin(requires_postgres, f'CREATE DATABASE "{name}"'))
    try:
        settings.allowed_private_networks = "127.0.0.0/8"
        owner, editor = world.people["owner"], world.people["editor"]
        parts = urlsplit(requires_postgres)
        config = {
            "host": parts.hostname,
            "port": parts.port or 5432,
            "database": name,
            "user": parts.username or "postgres",
            "sslmode": "disable",
        }
        if parts.password:
            config["password"] = parts.password
        own = connection(client, owner, world.a, "Own PG", "postgres", config)
        r = _use(client, owner, world.a, own)
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == "postgres" and r.json()["schemas"]["raw"] == "raw"
        source = _shop(client, settings, world, rows=12)
        p = pipeline(
            client, editor, world.a, "Orders", source, {"mode": "table", "table": "orders"}
        )
        done = run(client, editor, world.a, p["id"])
        assert done["status"] == "succeeded", done["error"]
        assert query(client, editor, world.a, "SELECT count(*) FROM raw.orders") == [[12]]
        own_url = requires_postgres.rsplit("/", 1)[0] + "/" + name
        rows = asyncio.run(_admin(own_url, "SELECT count(*) FROM raw.orders"))[0]
        assert rows[0][0] == 12
    finally:
        asyncio.run(_admin(requires_postgres, f'DROP DATABASE "{name}" WITH (FORCE)'))
