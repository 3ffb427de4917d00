"""Pre-aggregations, compiler side: the SELECT that builds a rollup, Cube's matching rules, and
queries read from a rollup giving exactly the raw tables' answer (row filters included)."""

from __future__ import annotations

import datetime as dt

import pytest

from tenantry.semantic.compiler import SecurityContext
from tenantry.semantic.compiler.preaggs import match, rollup_select
from tests.semantic.compiler_helpers import (
    DuckWarehouse,
    PgWarehouse,
    load_model,
    norm_rows,
    sort_key,
)

STAFF = SecurityContext(claims={"store_id": 2}, roles=("store_staff",))


@pytest.fixture(scope="module")
def model():
    return load_model()


def build_rollups(wh, model) -> dict[str, str]:
    out = {}
    for cube in model.cubes.values():
        for pre in cube.pre_aggregations.values():
            if pre.type != "rollup":
                continue
            sql, _ = rollup_select(model, pre, dialect=wh.dialect, schemas=wh.schemas)
            table = f"rollup_{pre.cube}_{pre.name}"
            statement = f'CREATE TABLE "{wh.schema}".{table} AS {sql}'
            if wh.dialect == "postgres":
                with wh.conn.cursor() as cur:
                    cur.execute(statement)
            else:
                wh.conn.execute(statement)
            out[pre.path] = f"{wh.schema}.{table}"
    return out


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def wh(request, postgres_url, model):
    if request.param == "postgres":
        if postgres_url is None:
            pytest.skip("TENANTRY_TEST_POSTGRES_URL is not set (CI sets it)")
        found = PgWarehouse(postgres_url)
    else:
        found = DuckWarehouse()
    found.rollups = build_rollups(found, model)
    yield found
    found.close()


def td(granularity=None, date_range=None, dimension="orders.created_at"):
    out = {"dimension": dimension}
    if granularity:
        out["granularity"] = granularity
    if date_range:
        out["dateRange"] = date_range
    return out


SERVED = [
    (
        "orders.by_day",
        {"measures": ["orders.count", "orders.revenue"], "dimensions": ["orders.status"]},
    ),
    (
        "orders.by_day",
        {
            "measures": ["orders.count", "orders.min_amount", "orders.max_amount"],
            "timeDimensions": [td("week", ["2023-03-06", "2023-06-25"])],
        },
    ),
    (
        "orders.by_day",
        {
            "measures": ["orders.avg_order_value", "orders.completion_rate"],
            "dimensions": ["orders.store_id"],
            "timeDimensions": [td("quarter")],
            "filters": [
                {"member": "orders.status", "operator": "notEquals", "values": ["pending"]},
                {"member": "orders.count", "operator": "gt", "values": ["3"]},
            ],
        },
    ),
    (
        "orders.by_day",
        {"measures": ["orders.revenue"], "timeDimensions": [td("year", "last year")]},
    ),
    (
        "orders.by_day",
        {"measures": ["orders.count"], "timeDimensions": [td("day", "last 30 days")]},
    ),
    (
        "orders.by_month_status",
        {
            "measures": ["orders.count", "orders.revenue"],
            "segments": ["orders.completed"],
            "timeDimensions": [td("month")],
        },
    ),
    (
        "orders.distinct_by_status",
        {
            "measures": ["orders.unique_customers", "orders.avg_amount"],
            "dimensions": ["orders.status"],
        },
    ),
    (
        "orders.by_product",
        {"measures": ["orders.count", "orders.revenue"], "dimensions": ["line_items.product"]},
    ),
    ("orders.by_day", {"measures": ["sales.count"], "dimensions": ["sales.status"]}),
    (
        "orders.by_day",
        {"measures": ["orders.count"], "dimensions": ["orders.status"], "total": True, "limit": 2},
    ),
]
RAW = [
    {"measures": ["orders.avg_amount"]},  # avg: only an exact match serves it
    {"measures": ["orders.unique_customers"], "timeDimensions": [td("month")]},
    {"measures": ["orders.count"], "timeDimensions": [td("hour")]},  # finer than the rollup
    {"measures": ["orders.count"], "dimensions": ["orders.note"]},  # not in any rollup
    {
        "measures": ["orders.count"],
        "timeDimensions": [td("day", ["2024-01-01T12:00:00", "2024-01-09"])],
    },
    {"measures": ["orders.count"], "timeDimensions": [td("day")], "timezone": "Europe/Berlin"},
    {"dimensions": ["orders.status"], "measures": ["orders.revenue"], "ungrouped": True},
    {"measures": ["orders.count"], "filters": [{"member": "orders.note", "operator": "set"}]},
    {
        "measures": ["orders.count"],
        "filters": [
            {"member": "orders.created_at", "operator": "afterDate", "values": ["2024-01-01"]}
        ],
    },
    {
        "measures": ["orders.count"],
        "filters": [{"member": "orders.completed_count", "operator": "measureFilter"}],
    },
    {"measures": ["orders.count", "line_items.count"]},
]


def run(wh, query, **kw):
    compiled = wh.compile(model_of(wh), query, **kw)
    rows = sorted(norm_rows(wh.run(compiled.sql)[1]), key=sort_key)
    total = wh.run(compiled.total_sql)[1] if compiled.total_sql else None
    return compiled, rows, total


_MODEL = load_model()


def model_of(_wh):
    return _MODEL


@pytest.mark.parametrize(("path", "query"), SERVED)
def test_rollups_answer_like_the_raw_tables(wh, path, query):
    raw, raw_rows, raw_total = run(wh, query)
    served, rows, total = run(wh, query, rollups=wh.rollups)
    assert raw.used_pre_aggregation is None
    assert served.used_pre_aggregation == path
    assert "__rollup" in served.sql
    assert rows == raw_rows
    assert total == raw_total
    assert served.columns == raw.columns and served.annotation == raw.annotation
    assert path in served.pre_aggregation_candidates


@pytest.mark.parametrize("query", RAW)
def test_queries_a_rollup_cannot_answer_read_the_raw_tables(wh, query):
    compiled, _, _ = run(wh, query, rollups=wh.rollups)
    assert compiled.used_pre_aggregation is None
    assert "__rollup" not in compiled.sql


def test_row_filters_apply_to_rollups(wh, model):
    query = {"measures": ["secure_orders.count", "secure_orders.revenue"]}
    manager = SecurityContext(roles=("manager",))
    for context, used in [(STAFF, "secure_orders.by_store"), (manager, "secure_orders.by_store")]:
        raw, raw_rows, _ = run(wh, {**query, "measures": ["secure_orders.count"]}, context=context)
        served, rows, _ = run(
            wh, {**query, "measures": ["secure_orders.count"]}, context=context, rollups=wh.rollups
        )
        assert served.used_pre_aggregation == used and rows == raw_rows
    by_status = [model.cubes["secure_orders"].pre_aggregations["by_status"]]
    normalized = {"measures": ["secure_orders.count"], "dimensions": ["secure_orders.status"]}
    assert match(model, normalized, by_status) is not None
    assert (
        match(model, normalized, by_status, row_filter_members=["secure_orders.store_id"]) is None
    )


def test_a_rollup_not_built_yet_is_not_used(wh):
    compiled, _, _ = run(wh, {"measures": ["orders.count"]}, rollups={})
    assert compiled.used_pre_aggregation is None
    assert compiled.pre_aggregation_candidates == [
        "orders.by_day",
        "orders.by_month_status",
        "orders.distinct_by_status",
        "orders.by_product",
    ]


def test_match_rules(model):
    pres = model.cubes["orders"].pre_aggregations
    day, month = pres["by_day"], pres["by_month_status"]

    def m(query, candidates=(day, month)):
        found = match(model, {"timezone": "UTC", **query}, list(candidates))
        return found.name if found else None

    base = {"measures": ["orders.count"]}
    assert m({**base, "timeDimensions": [td("week")]}) == "by_day"
    assert m({**base, "timeDimensions": [td("week")]}, [month]) is None  # week needs ≤ day
    assert m({**base, "timeDimensions": [td("quarter")]}, [month]) == "by_month_status"
    assert m({**base, "timeDimensions": [td("day")]}, [month]) is None
    assert m({**base, "dimensions": ["orders.store_id"]}, [month]) is None
    assert m({**base, "segments": ["orders.completed"]}) == "by_month_status"
    assert m({"measures": ["orders.avg_amount"]}) is None
    assert m({**base, "timezone": "America/New_York"}) is None
    assert m({**base, "ungrouped": True}) is None
    aligned = ["2024-01-01T00:00:00.000", "2024-01-31T23:59:59.999"]
    assert m({**base, "timeDimensions": [td(None, aligned)]}, [month]) == "by_month_status"
    half = ["2024-01-01T00:00:00.000", "2024-01-15T23:59:59.999"]
    assert m({**base, "timeDimensions": [td(None, half)]}, [month]) is None
    assert m({**base, "timeDimensions": [td(None, half)]}, [day]) == "by_day"
    other_time = [td("month", dimension="customers.signed_up_at")]
    assert m({**base, "timeDimensions": other_time}) is None
    assert m({"measures": ["orders.count", "customers.count"]}) is None
    # by_product's joins multiply orders: its counts cannot be summed over products
    product = pres["by_product"]
    assert m(base, [product]) is None
    assert m({**base, "dimensions": ["line_items.product"]}, [product]) == "by_product"


def test_rollup_select_shape_and_partitions(model):
    wh = DuckWarehouse()
    try:
        pre = model.cubes["orders"].pre_aggregations["by_day"]
        sql, columns = rollup_select(model, pre, dialect="duckdb", schemas=wh.schemas)
        assert columns == [
            ("orders__status", "orders.status"),
            ("orders__store_id", "orders.store_id"),
            ("orders__created_at_day", "orders.created_at.day"),
            ("orders__count", "orders.count"),
            ("orders__revenue", "orders.revenue"),
            ("orders__min_amount", "orders.min_amount"),
            ("orders__max_amount", "orders.max_amount"),
            ("orders__completed_count", "orders.completed_count"),
        ]
        assert "LIMIT" not in sql and "ORDER BY" not in sql
        whole = wh.run(sql)[1]
        parts = []
        for start, end in [
            (dt.datetime(2022, 1, 1), dt.datetime(2024, 1, 1)),
            (dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1)),
        ]:
            part_sql, _ = rollup_select(
                model, pre, dialect="duckdb", schemas=wh.schemas, window=(start, end)
            )
            parts += wh.run(part_sql)[1]
        assert sorted(norm_rows(parts), key=sort_key) == sorted(norm_rows(whole), key=sort_key)
        segment_pre = model.cubes["orders"].pre_aggregations["by_month_status"]
        _, seg_columns = rollup_select(model, segment_pre, dialect="duckdb", schemas=wh.schemas)
        assert ("orders__completed", "orders.completed") in seg_columns
        source = model.cubes["orders"].pre_aggregations["source"]
        sql, columns = rollup_select(model, source, dialect="duckdb", schemas=wh.schemas)
        assert columns == [] and len(wh.run(sql)[1]) == 300
        stores_sql, _ = rollup_select(
            model,
            type("P", (), {"type": "original_sql", "cube": "stores"})(),
            dialect="duckdb",
            schemas=wh.schemas,
        )
        assert len(wh.run(stores_sql)[1]) == 4
    finally:
        wh.close()
