"""Responses shaped like Cube's: the annotation, rows keyed by member with times as
``YYYY-MM-DDTHH:mm:ss.SSS`` and numbers as strings (the same text from DuckDB and PostgreSQL),
the columns/cubes/refresh keys a compiled query carries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tenantry.semantic.compiler import compile_query, shape_rows
from tenantry.semantic.compiler.result import number_text
from tenantry.semantic.schema.model import RefreshKey
from tests.semantic.compiler_helpers import ANYONE, NOW, DuckWarehouse, PgWarehouse, load_model


@pytest.fixture(scope="module")
def model():
    return load_model()


def compile_(model, query, **kw):
    return compile_query(model, query, context=ANYONE, now=NOW, **kw)


def test_annotation_shape(model):
    compiled = compile_(
        model,
        {
            "measures": ["orders.count", "orders.revenue"],
            "dimensions": ["orders.status", "customers.is_vip"],
            "segments": ["orders.completed"],
            "timeDimensions": [{"dimension": "orders.created_at", "granularity": "week"}],
        },
    )
    a = compiled.annotation
    assert a["measures"]["orders.count"] == {
        "title": "Orders Count",
        "shortTitle": "Count",
        "type": "number",
        "drillMembers": ["orders.id", "orders.status", "orders.created_at"],
        "drillMembersGrouped": {
            "measures": [],
            "dimensions": ["orders.id", "orders.status", "orders.created_at"],
        },
    }
    assert a["measures"]["orders.revenue"]["format"] == "currency"
    assert a["dimensions"]["orders.status"] == {
        "title": "Orders Status",
        "shortTitle": "Status",
        "type": "string",
    }
    assert a["dimensions"]["customers.is_vip"]["type"] == "boolean"
    assert a["dimensions"]["customers.is_vip"]["title"] == "Customers Is vip"
    assert a["segments"] == {
        "orders.completed": {"title": "Orders Completed", "shortTitle": "Completed"}
    }
    week = a["timeDimensions"]["orders.created_at.week"]
    assert week == {
        "title": "Orders Created at",
        "shortTitle": "Created at",
        "type": "time",
        "granularity": {"name": "week", "title": "week", "interval": "1 week"},
    }
    assert a["timeDimensions"]["orders.created_at"] == {
        "title": "Orders Created at",
        "shortTitle": "Created at",
        "type": "time",
    }


def test_annotation_through_a_view(model):
    a = compile_(
        model, {"measures": ["sales.count"], "dimensions": ["sales.customers_city"]}
    ).annotation
    assert a["measures"]["sales.count"]["title"] == "Sales Count"
    # drill members are shown by the view's names, and only those the view exposes
    assert a["measures"]["sales.count"]["drillMembers"] == ["sales.status", "sales.created_at"]
    assert a["dimensions"]["sales.customers_city"]["shortTitle"] == "Customers city"
    quarter = compile_(
        model, {"measures": ["line_items.count"], "dimensions": ["orders.created_at.quarter"]}
    )
    assert (
        quarter.annotation["timeDimensions"]["orders.created_at.quarter"]["granularity"]["interval"]
        == "3 months"
    )


def test_columns_cubes_and_refresh_keys(model):
    compiled = compile_(
        model,
        {
            "measures": ["orders.count", "stores.count"],
            "dimensions": ["customers.city"],
            "timeDimensions": [{"dimension": "orders.created_at", "granularity": "day"}],
        },
    )
    assert compiled.columns == [
        ("customers__city", "customers.city"),
        ("orders__created_at_day", "orders.created_at.day"),
        ("orders__count", "orders.count"),
        ("stores__count", "stores.count"),
    ]
    assert set(compiled.cubes) == {"orders", "customers", "stores"}
    assert RefreshKey(every=3600.0) in compiled.refresh_keys  # orders: every 1 hour
    assert RefreshKey(every=10.0) in compiled.refresh_keys  # Cube's default
    assert compiled.dialect == "duckdb"


def test_shape_rows_formats_like_cube(model):
    compiled = compile_(
        model,
        {
            "measures": ["orders.count", "orders.revenue", "orders.avg_amount"],
            "dimensions": ["orders.status", "orders.is_big", "orders.amount"],
            "timeDimensions": [{"dimension": "orders.created_at", "granularity": "day"}],
        },
    )
    cols = [alias for alias, _ in compiled.columns]
    rows = [
        ["completed", True, Decimal("12.50"), dt.datetime(2024, 1, 5), 3, Decimal("100.00"), 2.5],
        [None, 0, Decimal("1E+2"), dt.date(2024, 1, 6), 0, None, 1e-7],
        ["x", "false", 7, "2024-01-07 00:00:00", 12, 1234567.25, float(10**16)],
    ]
    out = shape_rows(compiled, cols, rows)
    assert out[0] == {
        "orders.status": "completed",
        "orders.is_big": True,
        "orders.amount": "12.5",
        "orders.created_at.day": "2024-01-05T00:00:00.000",
        "orders.created_at": "2024-01-05T00:00:00.000",
        "orders.count": "3",
        "orders.revenue": "100",
        "orders.avg_amount": "2.5",
    }
    assert out[1]["orders.status"] is None
    assert out[1]["orders.is_big"] is False
    assert out[1]["orders.amount"] == "100"
    assert out[1]["orders.created_at.day"] == "2024-01-06T00:00:00.000"
    assert out[1]["orders.revenue"] is None
    assert out[1]["orders.avg_amount"] == "0.0000001"
    assert out[2]["orders.is_big"] is False
    assert out[2]["orders.created_at"] == "2024-01-07T00:00:00.000"
    assert out[2]["orders.revenue"] == "1234567.25"
    assert out[2]["orders.avg_amount"] == "10000000000000000"
    # columns are matched by name, whatever order the driver returns them in
    again = shape_rows(compiled, list(reversed(cols)), [list(reversed(r)) for r in rows])
    assert again == out


def test_shape_rows_converts_aware_times_to_the_query_zone(model):
    compiled = compile_(
        model,
        {
            "dimensions": ["orders.created_at"],
            "timezone": "America/New_York",
        },
    )
    aware = dt.datetime(2024, 1, 5, 12, 0, tzinfo=ZoneInfo("UTC"))
    out = shape_rows(compiled, ["orders__created_at"], [[aware]])
    assert out == [{"orders.created_at": "2024-01-05T07:00:00.000"}]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-3, "-3"),
        (Decimal("-0.00"), "0"),
        (Decimal("3.1400"), "3.14"),
        (Decimal("1E-10"), "0.0000000001"),
        (12.0, "12"),
        (0.1 + 0.2, "0.3"),  # a double sum's binary noise is dropped
        ("42.10", "42.1"),
    ],
)
def test_number_text(value, text):
    assert number_text(value) == text


QUERY = {
    "measures": ["orders.count", "orders.revenue", "orders.max_amount"],
    "dimensions": ["orders.status"],
    "timeDimensions": [{"dimension": "orders.created_at", "granularity": "quarter"}],
    "order": [["orders.created_at", "asc"], ["orders.status", "asc"]],
}


def test_shape_rows_on_duckdb_matches_postgres(model, postgres_url):
    duck = DuckWarehouse()
    compiled = duck.compile(model, QUERY)
    names, rows = duck.run(compiled.sql)
    from_duck = shape_rows(compiled, names, rows)
    duck.close()
    assert from_duck[0]["orders.created_at.quarter"] == "2023-01-01T00:00:00.000"
    assert all(isinstance(r["orders.count"], str) for r in from_duck)
    assert all("E" not in (r["orders.revenue"] or "") for r in from_duck)
    if postgres_url is None:
        return
    pg = PgWarehouse(postgres_url)
    try:
        compiled = pg.compile(model, QUERY)
        names, rows = pg.run(compiled.sql)
        assert shape_rows(compiled, names, rows) == from_duck
    finally:
        pg.close()
