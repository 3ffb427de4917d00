"""Real database sources and the PostgreSQL warehouse (CI provides PostgreSQL and MariaDB)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pymysql
import pytest

from tests.conftest import _admin
from tests.pipelines.helpers import connection, org_id, pipeline, query, run, wait


@pytest.fixture
def pg_source(requires_postgres):
    """A schema with an orders table in the test PostgreSQL, dropped afterwards."""
    schema = "src_" + uuid.uuid4().hex[:8]
    asyncio.run(
        _admin(
            requires_postgres,
            f"CREATE SCHEMA {schema}",
            f"CREATE TABLE {schema}.orders (id int primary key, amount numeric(10,2), note text)",
            f"INSERT INTO {schema}.orders "
            "SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 250) g",
        )
    )
    yield requires_postgres, schema
    asyncio.run(_admin(requires_postgres, f"DROP SCHEMA {schema} CASCADE"))


def test_postgres_source_into_the_duckdb_warehouse(client, settings, world, pg_source):
    from urllib.parse import urlsplit

    url, schema = pg_source
    parts = urlsplit(url)
    settings.allowed_private_networks = "127.0.0.0/8"
    owner, editor = world.people["owner"], world.people["editor"]
    config = {
        "host": parts.hostname,
        "port": parts.port or 5432,
        "database": parts.path.lstrip("/"),
        "user": parts.username or "postgres",
        "schema_name": schema,
        "sslmode": "disable",
    }
    if parts.password:
        config["password"] = parts.password
    source = connection(client, owner, world.a, "Shop PG", "postgres", config)
    p = pipeline(client, editor, world.a, "PG orders", source, {"mode": "database"})
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "succeeded", done["error"]
    sql = "SELECT count(*), sum(amount)::DOUBLE, max(note) FROM raw.orders"
    assert query(client, editor, world.a, sql) == [[250, 47062.5, "n99"]]


@pytest.fixture
def maria_orders(requires_mysql):
    table = "orders_" + uuid.uuid4().hex[:8]
    conn = pymysql.connect(
        host=requires_mysql.hostname,
        port=requires_mysql.port or 3306,
        user=requires_mysql.username or "root",
        password=requires_mysql.password or "",
        database=requires_mysql.path.lstrip("/"),
        autocommit=True,
    )
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, sku VARCHAR(20), qty INT)")
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",  # noqa: S608 - our own table name
            [(i, f"SKU{i % 9}", i % 5) for i in range(1, 301)],
        )
    yield requires_mysql, table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")
    conn.close()


def _maria_config(url) -> dict:
    config = {
        "host": url.hostname,
        "port": url.port or 3306,
        "database": url.path.lstrip("/"),
        "user": url.username or "root",
    }
    if url.password:
        config["password"] = url.password
    return config


def test_mariadb_source_into_postgres_warehouse_schemas_kept_apart(
    client, settings, world, maria_orders, pg_warehouse
):
    url, table = maria_orders
    settings.allowed_private_networks = "127.0.0.0/8"
    owner, b_owner = world.people["owner"], world.b_owner
    pipelines = {}
    for org, person in ((world.a, owner), (world.b, b_owner)):
        source = connection(client, person, org, "Maria", "mysql", _maria_config(url))
        qty = 1 if org == world.a else 2  # each org loads a different slice
        spec = {
            "mode": "table",
            "table": table,
            "table_name": "stock",
            "filters": [{"column": "qty", "operator": "eq", "value": qty}],
        }
        pipelines[org] = pipeline(client, person, org, "Stock", source, spec)["id"]
    # Both organizations' runs at the same time.
    started = {
        org: client.post(f"/api/v1/orgs/{org}/pipelines/{pid}/run", headers=person.h).json()["id"]
        for (org, pid), person in zip(pipelines.items(), (owner, b_owner), strict=True)
    }
    for (org, run_id), person in zip(started.items(), (owner, b_owner), strict=True):
        done = wait(client, person, org, run_id, timeout=120)
        assert done["status"] == "succeeded", done["error"]
        assert done["tables"]["stock"]["rows"] == 60
    assert query(client, owner, world.a, "SELECT count(*), min(qty), max(qty) FROM stock") == [
        [60, 1, 1]
    ]
    assert query(client, b_owner, world.b, "SELECT count(*), min(qty), max(qty) FROM stock") == [
        [60, 2, 2]
    ]
    # The database itself keeps them apart: B's role cannot read A's schema.
    from tests.warehouse.test_postgres import _store

    a_store = _store(client, world.a, owner)
    b_store = _store(client, world.b, b_owner)

    async def cross_read():
        conn = await b_store.connect(read_only=True, timeout=10)
        try:
            await conn.fetch(f'SELECT * FROM "{a_store.schemas["raw"]}".stock')
        finally:
            await conn.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(cross_read())
    assert org_id(client, owner, world.a) != org_id(client, b_owner, world.b)
