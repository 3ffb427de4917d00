"""PostgreSQL warehouses: a schema set and a role per organization, kept apart by the database."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from tenantry.warehouse import postgres_store
from tenantry.warehouse.models import Warehouse
from tenantry.warehouse.postgres_store import PostgresWarehouse


def _store(client, slug, person) -> PostgresWarehouse:
    org_id = client.get(f"/api/v1/orgs/{slug}", headers=person.h).json()["id"]

    async def row():
        async with client.app.state.db.sessionmaker() as s:
            return await s.scalar(sa.select(Warehouse).where(Warehouse.org_id == org_id))

    w = client.portal.call(row)
    return PostgresWarehouse(client.app.state.settings.warehouse_postgres_url, w.config)


async def _load(store: PostgresWarehouse, table: str, rows: list[str]) -> None:
    conn = await store.connect(read_only=False, timeout=30)
    try:
        await conn.execute(f"CREATE TABLE {store.schemas['raw']}.{table} (name text)")
        await conn.executemany(
            f"INSERT INTO {store.schemas['raw']}.{table} VALUES ($1)", [(r,) for r in rows]
        )
    finally:
        await conn.close()


def test_each_organization_gets_its_own_schemas_and_role(client, world, pg_warehouse):
    a, b = world.people["viewer"], world.b_owner
    info = client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=a.h).json()
    assert info["kind"] == "postgres"
    assert info["schemas"] == {
        "raw": "org_a_raw",
        "staging": "org_a_staging",
        "marts": "org_a_marts",
    }
    client.get(f"/api/v1/orgs/{world.b}/warehouse", headers=b.h)
    store_a, store_b = _store(client, world.a, a), _store(client, world.b, b)
    assert store_a.role != store_b.role
    asyncio.run(_load(store_a, "customers", ["Ada", "Grace"]))
    asyncio.run(_load(store_b, "customers", ["Globex"]))

    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query",
        json={"sql": "select name from customers order by name"},
        headers=a.h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [["Ada"], ["Grace"]]  # unqualified: the org's own schemas come first
    tables = client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=a.h).json()["tables"]
    assert [(t["schema"], t["name"]) for t in tables] == [("org_a_raw", "customers")]

    # Through the API, naming the other organization's schema: refused by the guard already
    # (and by the database too: see the next test).
    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query",
        json={"sql": "select * from org_b_raw.customers"},
        headers=a.h,
    )
    assert r.status_code == 422 and "not part of this warehouse" in r.json()["detail"]


def test_the_role_itself_cannot_reach_another_tenant_or_write_in_a_preview(
    client, world, pg_warehouse
):
    a, b = world.people["owner"], world.b_owner
    client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=a.h)
    client.get(f"/api/v1/orgs/{world.b}/warehouse", headers=b.h)
    store_a, store_b = _store(client, world.a, a), _store(client, world.b, b)
    asyncio.run(_load(store_b, "secrets_of_b", ["classified"]))

    async def as_role_a():
        import asyncpg

        conn = await store_a.connect(read_only=False, timeout=30)
        try:
            for sql in (
                "select * from org_b_raw.secrets_of_b",  # read across tenants
                "create table org_b_raw.planted (x int)",  # write across tenants
                "create schema sneaky",  # grow outside its own schemas
                "create role sneaky",
                "select pg_notify('tenantry', 'hello')",  # signalling other sessions
                "select pg_try_advisory_lock(1)",  # holding locks others wait on
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(sql)
        finally:
            await conn.close()
        # A preview connection is read-only even in the role's own schemas.
        ro = await store_a.connect(read_only=True, timeout=30)
        try:
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await ro.execute("create table org_a_raw.t (x int)")
        finally:
            await ro.close()

    asyncio.run(as_role_a())


def test_provisioning_is_idempotent_and_avoids_taken_schema_names(pg_warehouse):
    first = asyncio.run(postgres_store.provision(pg_warehouse, org_id="a" * 32, slug="acme"))
    again = asyncio.run(postgres_store.provision(pg_warehouse, org_id="a" * 32, slug="acme"))
    assert (
        again["schemas"]
        == first["schemas"]
        == {"raw": "acme_raw", "staging": "acme_staging", "marts": "acme_marts"}
    )
    # Another organization that later takes the slug "acme" gets schemas of its own.
    other = asyncio.run(postgres_store.provision(pg_warehouse, org_id="b" * 32, slug="acme"))
    assert other["schemas"]["raw"] == "acme_bbbbbbbb_raw"
