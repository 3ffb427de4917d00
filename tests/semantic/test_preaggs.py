"""Pre-aggregations: built as runs into the organization's warehouse, partitioned, refreshed
incrementally, matched per Cube's rules — and always answering exactly what the raw query does."""

from __future__ import annotations

import asyncio

from tests.semantic.helpers import (
    OPEN_MODEL,
    expected,
    load,
    org_id,
    sample_rows,
    save_model,
    token,
    write_sales,
)
from tests.transforms.helpers import finished

ROLLUP = """    pre_aggregations:
      - name: daily
        measures: [count, amount]
        dimensions: [region, store_id]
        time_dimension: sold_at
        granularity: day
        partition_granularity: month
        refresh_key:
          every: 1 hour
          incremental: true
          update_window: 40 day
"""
MODEL = OPEN_MODEL + ROLLUP


def _build(client, who, org, **body) -> dict:
    r = client.post(f"/api/v1/orgs/{org}/semantic/pre-aggregations/build", json=body, headers=who.h)
    assert r.status_code == 202, r.text
    run = finished(client, who, org, r.json()["id"])
    assert run["status"] == "succeeded", run
    return run


def _status(client, who, org) -> dict:
    r = client.get(f"/api/v1/orgs/{org}/semantic/pre-aggregations", headers=who.h)
    return {p["name"]: p for p in r.json()}


def _same(a: list[dict], b: list[dict]) -> bool:
    def norm(rows):
        return sorted(tuple(sorted((k, str(v)) for k, v in r.items())) for r in rows)

    return norm(a) == norm(b)


def test_rollups_serve_what_raw_queries_answer(client, world, settings):
    owner = world.people["owner"]
    org = org_id(client, owner, world.a)
    write_sales(settings, org, sample_rows(1, n=60))  # 60 sales over ~10 months
    save_model(client, owner, world.a, MODEL)
    tok = token(client, owner, world.a)
    queries = [
        {"measures": ["sales.count", "sales.amount"], "dimensions": ["sales.region"]},
        {
            "measures": ["sales.amount"],
            "timeDimensions": [
                {
                    "dimension": "sales.sold_at",
                    "granularity": "month",
                    "dateRange": ["2024-02-01", "2024-06-30"],
                }
            ],
            "filters": [{"member": "sales.region", "operator": "equals", "values": ["north"]}],
        },
        {
            "measures": ["sales.count"],
            "timeDimensions": [{"dimension": "sales.sold_at", "granularity": "week"}],
        },
    ]
    raw = [load(client, tok, q, cache="no-cache").json() for q in queries]
    assert all(not r["usedPreAggregations"] for r in raw)
    run = _build(client, owner, world.a)
    state = _status(client, owner, world.a)["sales.daily"]
    assert state["ready"] and len(state["partitions"]) >= 10
    assert state["table"].startswith("tny_pa_") and run["kind"] == "preagg"
    # Its rows are in the organization's own warehouse.
    count = expected(settings, org, f"SELECT count(*) FROM marts.{state['table']}")[0][0]
    assert count == sum(p["rows"] for p in state["partitions"]) > 0
    client.app.state.semantic.rollups._items.clear()
    for query, before in zip(queries, raw, strict=True):
        served = load(client, tok, query, cache="no-cache").json()
        assert list(served["usedPreAggregations"]) == ["sales.daily"], query
        assert _same(served["data"], before["data"]), query
    # A member the rollup lacks: answered from the raw table, still right.
    by_id = {"measures": ["sales.count"], "dimensions": ["sales.id"], "limit": 5}
    assert not load(client, tok, by_id, cache="no-cache").json()["usedPreAggregations"]
    # Loaded tables (and the transformations' sources) do not list the rollup.
    tables = client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=owner.h).json()
    assert state["table"] not in str(tables.get("tables", []))


def test_incremental_refresh_rebuilds_only_the_update_window(client, world, settings):
    owner = world.people["owner"]
    org = org_id(client, owner, world.a)
    write_sales(settings, org, sample_rows(1, n=60))
    save_model(client, owner, world.a, MODEL.replace("every: 1 hour", "every: 1 second"))
    _build(client, owner, world.a)
    first = {
        p["partition"]: p["built_at"]
        for p in _status(client, owner, world.a)["sales.daily"]["partitions"]
    }
    asyncio.run(asyncio.sleep(1.1))  # a new refresh-key value
    _build(client, owner, world.a)
    second = {
        p["partition"]: p["built_at"]
        for p in _status(client, owner, world.a)["sales.daily"]["partitions"]
    }
    rebuilt = [k for k in first if second[k] != first[k]]
    # The data ends in late 2024; "now" is later, so no partition is inside a 40-day window.
    assert rebuilt == []
    full = _build(client, owner, world.a, full=True)
    third = {
        p["partition"]: p["built_at"]
        for p in _status(client, owner, world.a)["sales.daily"]["partitions"]
    }
    assert all(third[k] != second[k] for k in second) and full["rows_loaded"] == 60


def test_row_level_policies_apply_to_rollups(client, world, settings):
    owner = world.people["owner"]
    org = org_id(client, owner, world.a)
    write_sales(settings, org, sample_rows(1, n=60))
    policy = """    access_policy:
      - role: store_user
        row_level:
          filters:
            - member: store_id
              operator: equals
              values: ["{ securityContext.store_id }"]
"""
    save_model(client, owner, world.a, OPEN_MODEL + ROLLUP + policy)
    _build(client, owner, world.a)
    client.app.state.semantic.rollups._items.clear()
    tok = token(client, owner, world.a, {"store_id": 2, "roles": ["store_user"]})
    query = {"measures": ["sales.count", "sales.amount"], "dimensions": ["sales.region"]}
    got = load(client, tok, query, cache="no-cache").json()
    assert list(got["usedPreAggregations"]) == ["sales.daily"]
    truth = expected(
        settings,
        org,
        "SELECT region, count(*), sum(amount) FROM marts.sales WHERE store_id = 2 GROUP BY 1",
    )
    rows = sorted(
        (r["sales.region"], int(r["sales.count"]), float(r["sales.amount"])) for r in got["data"]
    )
    assert rows == sorted((r, int(c), float(a)) for r, c, a in truth)


def test_background_refresh_is_round_robin_and_bounded(client, world, settings):
    from tenantry.semantic.preaggs.refresh import Refresher

    owner, b_owner = world.people["owner"], world.b_owner
    for who, slug in ((owner, world.a), (b_owner, world.b)):
        write_sales(settings, org_id(client, who, slug), sample_rows(1, n=20))
        save_model(client, who, slug, MODEL)
    one_at_a_time = settings.model_copy(update={"preagg_refresh_concurrency": 1})
    refresher = Refresher(client.app.state.db, one_at_a_time)

    async def tick():
        return await refresher.tick()

    first = client.portal.call(tick)
    assert len(first) == 1  # bounded: one build in all
    assert client.portal.call(tick) == []  # still running (or queued): nothing more starts
    run_id = client.get(
        f"/api/v1/orgs/{world.a if first[0] == org_id(client, owner, world.a) else world.b}/runs",
        params={"size": 1},
        headers=owner.h if first[0] == org_id(client, owner, world.a) else b_owner.h,
    ).json()["items"][0]["id"]
    slug, who = (
        (world.a, owner) if first[0] == org_id(client, owner, world.a) else (world.b, b_owner)
    )
    finished(client, who, slug, run_id)
    second = client.portal.call(tick)
    assert second and second[0] != first[0]  # the other organization's turn


def test_original_sql_is_materialized_and_build_range_bounds_partitions(client, world, settings):
    owner = world.people["owner"]
    org = org_id(client, owner, world.a)
    write_sales(settings, org, sample_rows(1, n=60))  # 2024-01-06 … 2024-10-27
    model = (
        OPEN_MODEL.replace(
            "    sql_table: marts.sales\n",
            "    sql: SELECT * FROM marts.sales WHERE amount > 5\n",
        )
        + """    pre_aggregations:
      - name: source
        type: original_sql
      - name: spring
        measures: [count]
        time_dimension: sold_at
        granularity: day
        partition_granularity: month
        build_range_start:
          sql: SELECT TIMESTAMP '2024-03-01'
        build_range_end:
          sql: SELECT TIMESTAMP '2024-05-31'
"""
    )
    save_model(client, owner, world.a, model)
    tok = token(client, owner, world.a)
    query = {"measures": ["sales.amount"], "dimensions": ["sales.region"]}
    raw = load(client, tok, query, cache="no-cache").json()
    _build(client, owner, world.a)
    state = _status(client, owner, world.a)
    assert state["sales.source"]["ready"] and state["sales.source"]["rows"] == 55
    spring = [p["partition"][:7] for p in state["sales.spring"]["partitions"]]
    assert spring == ["2024-03", "2024-04", "2024-05"]  # only the build range's months
    client.app.state.semantic.rollups._items.clear()
    served = load(client, tok, query, cache="no-cache").json()
    assert list(served["usedPreAggregations"]) == ["sales.source"]
    assert (
        "tny_pa_sales__source" in served["usedPreAggregations"]["sales.source"]["targetTableName"]
    )
    assert _same(served["data"], raw["data"])
