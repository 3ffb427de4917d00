"""The semantic layer on PostgreSQL warehouses: each organization's queries and rollups run as
its own role in its own schemas — the database itself keeps tenants apart."""

from __future__ import annotations

import asyncio

from tests.semantic.helpers import OPEN_MODEL, load, sample_rows, save_model, token
from tests.semantic.test_preaggs import MODEL, _build, _same, _status
from tests.warehouse.test_postgres import _store

BY_REGION = {"measures": ["sales.count", "sales.amount"], "dimensions": ["sales.region"]}


async def _write(store, rows) -> None:
    conn = await store.connect(read_only=False, timeout=30)
    marts = store.schemas["marts"]
    try:
        await conn.execute(
            f"CREATE TABLE {marts}.sales (id int, store_id int, region text, "
            "sold_at timestamp, amount numeric(12, 2))"
        )
        await conn.executemany(f"INSERT INTO {marts}.sales VALUES ($1, $2, $3, $4, $5)", rows)
    finally:
        await conn.close()


def _truth(rows) -> list[tuple]:
    out: dict[str, list] = {}
    for _, _, region, _, amount in rows:
        acc = out.setdefault(region, [0, 0])
        acc[0] += 1
        acc[1] += amount
    return sorted((r, c, float(a)) for r, (c, a) in out.items())


def _rows(body) -> list[tuple]:
    return sorted(
        (r["sales.region"], int(r["sales.count"]), float(r["sales.amount"])) for r in body["data"]
    )


def test_tenants_on_postgres_get_their_own_data_and_rollups(client, world, pg_warehouse):
    owner, b_owner = world.people["owner"], world.b_owner
    data = {world.a: sample_rows(1, n=60), world.b: sample_rows(7, n=25)}
    for who, slug in ((owner, world.a), (b_owner, world.b)):
        client.get(f"/api/v1/orgs/{slug}/warehouse", headers=who.h)  # provisions it
        asyncio.run(_write(_store(client, slug, who), data[slug]))
    save_model(client, owner, world.a, MODEL)
    save_model(client, b_owner, world.b, OPEN_MODEL)
    tokens = {world.a: token(client, owner, world.a), world.b: token(client, b_owner, world.b)}
    for slug in (world.a, world.b, world.a, world.b):
        r = load(client, tokens[slug], BY_REGION, cache="no-cache")
        assert r.status_code == 200, r.text
        assert _rows(r.json()) == _truth(data[slug])
    sql = client.post(
        "/cubejs-api/v1/sql", json={"query": BY_REGION}, headers={"Authorization": tokens[world.a]}
    ).json()["sql"]["sql"][0]
    assert "org_a_marts" in sql  # marts.sales, mapped to the organization's own schema

    raw = load(client, tokens[world.a], BY_REGION, cache="no-cache").json()
    _build(client, owner, world.a)
    assert _status(client, owner, world.a)["sales.daily"]["ready"]
    client.app.state.semantic.rollups._items.clear()
    served = load(client, tokens[world.a], BY_REGION, cache="no-cache").json()
    assert list(served["usedPreAggregations"]) == ["sales.daily"]
    assert "org_a_marts.tny_pa_" in served["usedPreAggregations"]["sales.daily"]["targetTableName"]
    assert _same(served["data"], raw["data"])


def test_a_model_naming_another_tenants_schema_is_refused_by_the_database(
    client, world, pg_warehouse
):
    owner, b_owner = world.people["owner"], world.b_owner
    for who, slug in ((owner, world.a), (b_owner, world.b)):
        client.get(f"/api/v1/orgs/{slug}/warehouse", headers=who.h)
    asyncio.run(_write(_store(client, world.b, b_owner), sample_rows(7, n=5)))
    save_model(client, owner, world.a, OPEN_MODEL.replace("marts.sales", "org_b_marts.sales"))
    r = load(client, token(client, owner, world.a), BY_REGION, cache="no-cache")
    assert r.status_code == 400 and "permission denied" in r.json()["error"]
