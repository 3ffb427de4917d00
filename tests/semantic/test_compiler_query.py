"""The query JSON: error messages that name the member or field, the normalized query, query
expansion (compareDateRange, blending) and relative date ranges."""

from __future__ import annotations

import datetime as dt

import pytest

from tenantry.core.errors import BadRequest
from tenantry.semantic.compiler import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QueryError,
    compile_query,
    expand_query,
)
from tenantry.semantic.compiler.dates import resolve_range
from tests.semantic.compiler_helpers import ANYONE, NOW, load_model

HIDDEN = """
cubes:
  - name: hidden_cube
    sql_table: shop.orders
    public: false
    dimensions:
      - {name: id, sql: id, type: number, primary_key: true, public: true}
    measures:
      - {name: count, type: count}
  - name: loops
    sql_table: shop.orders
    dimensions:
      - {name: secret, sql: note, type: string, public: false}
    measures:
      - {name: a, sql: "{b} + 1", type: number}
      - {name: b, sql: "{a} + 1", type: number}
      - {name: total, sql: amount, type: sum}
  - name: nopk_events
    sql_table: shop.orders
    joins:
      - name: line_items
        relationship: one_to_many
        sql: "{CUBE}.id = {line_items}.order_id"
    measures:
      - {name: count, type: count}
  - name: island
    sql_table: shop.stores
    measures:
      - {name: count, type: count}
"""


@pytest.fixture(scope="module")
def model():
    return load_model({"extra.yml": HIDDEN})


def compile_(model, query, **kw):
    kw.setdefault("context", ANYONE)
    kw.setdefault("now", NOW)
    return compile_query(model, query, **kw)


def error_of(model, query) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_(model, query)
    return info.value


def test_unknown_member_names_it(model):
    err = error_of(model, {"measures": ["orders.nope"]})
    assert "Unknown member: orders.nope" in str(err)
    assert "'orders.nope'" in str(err)
    assert isinstance(err, BadRequest) and err.status == 400
    assert err.errors[0]["field"] == "measures[0]"


def test_unknown_cube_and_bad_names(model):
    assert "'nocube.count'" in str(error_of(model, {"measures": ["nocube.count"]}))
    for name in ["orders", "orders.status; DROP TABLE x", 'orders."x"', "orders.a.b.c", ""]:
        err = error_of(model, {"dimensions": [name]})
        assert "Unknown member" in str(err) or "granularity" in str(err)


def test_member_of_the_wrong_kind(model):
    err = error_of(model, {"measures": ["orders.count"], "dimensions": ["orders.completed"]})
    assert "'orders.completed' is a segment" in str(err)
    err = error_of(model, {"measures": ["orders.status"]})
    assert "'orders.status' is a dimension" in str(err)
    err = error_of(model, {"dimensions": ["orders.count"]})
    assert "'orders.count' is a measure" in str(err)
    err = error_of(model, {"measures": ["orders.count"], "segments": ["orders.status"]})
    assert "segments[0]" in str(err)


def test_time_dimension_must_be_time(model):
    err = error_of(
        model,
        {"measures": ["orders.count"], "timeDimensions": [{"dimension": "orders.status"}]},
    )
    assert "'orders.status' is a string dimension" in str(err)


def test_non_public_members_and_cubes_cannot_be_queried(model):
    assert "not public" in str(error_of(model, {"measures": ["hidden_cube.count"]}))
    err = error_of(model, {"measures": ["loops.total"], "dimensions": ["loops.secret"]})
    assert "'loops.secret'" in str(err) and "not public" in str(err)


def test_limit_checks(model):
    err = error_of(model, {"measures": ["orders.count"], "limit": MAX_LIMIT + 1})
    assert str(err) == "limit: 50001 exceeds the maximum row limit of 50000"
    assert err.errors[0]["field"] == "limit"
    ok = compile_(model, {"measures": ["orders.count"], "limit": MAX_LIMIT})
    assert ok.normalized["limit"] == MAX_LIMIT
    assert compile_(model, {"measures": ["orders.count"]}).normalized["limit"] == DEFAULT_LIMIT
    assert "limit" in str(error_of(model, {"measures": ["orders.count"], "limit": "lots"}))
    assert "offset" in str(error_of(model, {"measures": ["orders.count"], "offset": -1}))


@pytest.mark.parametrize(
    "date_range",
    [
        "whenever",
        ["2024-01-01", "soon"],
        ["2024-13-01", "2024-12-31"],
        "last -3 days",
        "last 0 days",
    ],
)
def test_bad_date_range_names_it(model, date_range):
    err = error_of(
        model,
        {
            "measures": ["orders.count"],
            "timeDimensions": [{"dimension": "orders.created_at", "dateRange": date_range}],
        },
    )
    assert "timeDimensions[0].dateRange" in str(err)


def test_date_range_shape_and_order(model):
    q = {"measures": ["orders.count"]}
    td = {"dimension": "orders.created_at"}
    err = error_of(model, {**q, "timeDimensions": [{**td, "dateRange": ["a", "b", "c"]}]})
    assert "dateRange" in str(err)
    err = error_of(
        model, {**q, "timeDimensions": [{**td, "dateRange": ["2024-02-01", "2024-01-01"]}]}
    )
    assert "ends before it starts" in str(err)


def test_filter_value_types_are_checked_against_the_member(model):
    def filt(member, operator, values):
        return {
            "measures": ["orders.count"],
            "filters": [{"member": member, "operator": operator, "values": values}],
        }

    err = error_of(model, filt("orders.amount", "gt", ["abc"]))
    assert "'abc' is not a number" in str(err) and "orders.amount" in str(err)
    assert "orders.amount" in str(error_of(model, filt("orders.amount", "equals", ["1e999x"])))
    assert "orders.amount" in str(error_of(model, filt("orders.amount", "equals", [True])))
    assert "orders.is_big" in str(error_of(model, filt("orders.is_big", "equals", ["maybe"])))
    assert "orders.created_at" in str(
        error_of(model, filt("orders.created_at", "afterDate", ["x"]))
    )
    err = error_of(model, filt("orders.status", "inDateRange", ["2024-01-01", "2024-02-01"]))
    assert "needs a time member" in str(err)
    err = error_of(model, filt("orders.count", "gt", ["many"]))
    assert "orders.count" in str(err)


def test_malformed_filters(model):
    q = {"measures": ["orders.count"]}
    assert "operator" in str(
        error_of(
            model, {**q, "filters": [{"member": "orders.status", "operator": "like", "values": []}]}
        )
    )
    assert "needs values" in str(
        error_of(model, {**q, "filters": [{"member": "orders.status", "operator": "equals"}]})
    )
    assert "filters[0].values" in str(
        error_of(
            model,
            {**q, "filters": [{"member": "orders.status", "operator": "equals", "values": "x"}]},
        )
    )
    assert "filters[0].values[0]" in str(
        error_of(
            model,
            {
                **q,
                "filters": [
                    {"member": "orders.status", "operator": "equals", "values": [{"a": 1}]}
                ],
            },
        )
    )
    err = error_of(
        model,
        {
            **q,
            "filters": [
                {
                    "or": [
                        {"member": "orders.status", "operator": "set"},
                        {"member": "orders.count", "operator": "gt", "values": ["1"]},
                    ]
                }
            ],
        },
    )
    assert "cannot mix dimensions and measures" in str(err)
    assert "'orders.completed' is a segment" in str(
        error_of(model, {**q, "filters": [{"member": "orders.completed", "operator": "set"}]})
    )


def test_unknown_query_keys_timezone_and_empty_queries(model):
    assert "'foo' is not a query property" in str(
        error_of(model, {"measures": ["orders.count"], "foo": 1})
    )
    # harmless client keys are accepted
    compile_(model, {"measures": ["orders.count"], "renewQuery": True, "responseFormat": "compact"})
    err = error_of(model, {"measures": ["orders.count"], "timezone": "Mars/Olympus"})
    assert "timezone" in str(err) and "Mars/Olympus" in str(err)
    assert "Query should contain" in str(error_of(model, {"segments": ["orders.completed"]}))
    assert "JSON object" in str(error_of(model, ["orders.count"]))
    assert "granularity" in str(
        error_of(
            model,
            {
                "measures": ["orders.count"],
                "timeDimensions": [{"dimension": "orders.created_at", "granularity": "fortnight"}],
            },
        )
    )


def test_order_errors(model):
    q = {"measures": ["orders.count"], "dimensions": ["orders.status"]}
    assert "'orders.store_id' is not one of the query's" in str(
        error_of(model, {**q, "order": {"orders.store_id": "asc"}})
    )
    assert "Unknown member" in str(error_of(model, {**q, "order": {"orders.x; DROP": "asc"}}))
    assert "'asc' or 'desc'" in str(error_of(model, {**q, "order": {"orders.status": "up"}}))
    assert "order" in str(error_of(model, {**q, "order": "orders.status"}))


def test_model_problems_surface_as_query_errors(model):
    assert "refers to itself" in str(error_of(model, {"measures": ["loops.a"]}))
    err = error_of(model, {"measures": ["nopk_events.count"], "dimensions": ["line_items.product"]})
    assert "'nopk_events' needs a primary key" in str(err)
    err = error_of(model, {"measures": ["island.count", "orders.count"]})
    assert "join path" in str(err)


def test_normalized_query(model):
    compiled = compile_(
        model,
        {
            "measures": ["orders.count"],
            "dimensions": ["orders.status", "orders.created_at.month"],
            "timeDimensions": [
                {"dimension": "orders.created_at", "dateRange": ["2024-01-01", "2024-01-31"]}
            ],
            "filters": [
                {"dimension": "orders.store_id", "operator": "equals", "values": [1, 2.50]},
                {"or": [{"member": "orders.is_big", "operator": "equals", "values": [True]}]},
                {"member": "orders.amount", "operator": "set"},
            ],
            "order": {"orders.count": "desc"},
            "offset": 5,
            "total": True,
            "renewQuery": True,
        },
    )
    n = compiled.normalized
    assert n["measures"] == ["orders.count"]
    assert n["dimensions"] == ["orders.status"]
    assert n["timeDimensions"] == [
        {
            "dimension": "orders.created_at",
            "dateRange": ["2024-01-01T00:00:00.000", "2024-01-31T23:59:59.999"],
        },
        {"dimension": "orders.created_at", "granularity": "month"},
    ]
    assert n["filters"] == [
        {"member": "orders.store_id", "operator": "equals", "values": ["1", "2.5"]},
        {"or": [{"member": "orders.is_big", "operator": "equals", "values": ["true"]}]},
        {"member": "orders.amount", "operator": "set"},
    ]
    assert n["order"] == [["orders.count", "desc"]]
    assert (n["limit"], n["rowLimit"], n["offset"], n["total"]) == (10000, 10000, 5, True)
    assert n["timezone"] == "UTC" and n["queryType"] == "regularQuery"


def test_normalized_default_order_and_relative_range(model):
    n = compile_(
        model,
        {
            "measures": ["orders.count"],
            "timeDimensions": [
                {"dimension": "orders.created_at", "granularity": "day", "dateRange": "last week"}
            ],
        },
    ).normalized
    assert n["order"] == [["orders.created_at.day", "asc"]]
    assert n["timeDimensions"][0]["dateRange"] == [
        "2024-06-03T00:00:00.000",
        "2024-06-09T23:59:59.999",
    ]
    n = compile_(model, {"measures": ["orders.count"], "order": []}).normalized
    assert n["order"] == []


def test_expand_query():
    q = {"measures": ["orders.count"]}
    assert expand_query(q) == ("regularQuery", [{**q, "queryType": "regularQuery"}])
    kind, queries = expand_query(
        {
            **q,
            "timeDimensions": [
                {
                    "dimension": "orders.created_at",
                    "granularity": "day",
                    "compareDateRange": ["this week", ["2024-01-01", "2024-01-07"]],
                }
            ],
        }
    )
    assert kind == "compareDateRangeQuery"
    assert [x["timeDimensions"][0]["dateRange"] for x in queries] == [
        "this week",
        ["2024-01-01", "2024-01-07"],
    ]
    assert all("compareDateRange" not in x["timeDimensions"][0] for x in queries)
    assert all(x["queryType"] == "compareDateRangeQuery" for x in queries)
    kind, queries = expand_query([q, {"measures": ["customers.count"]}])
    assert kind == "blendingQuery" and len(queries) == 2
    with pytest.raises(QueryError):
        expand_query("orders.count")
    with pytest.raises(QueryError):
        expand_query([])
    with pytest.raises(QueryError, match="compareDateRange"):
        expand_query({**q, "timeDimensions": [{"dimension": "x.y", "compareDateRange": "x"}]})


def test_compare_date_range_is_refused_unexpanded(model):
    err = error_of(
        model,
        {
            "measures": ["orders.count"],
            "timeDimensions": [
                {"dimension": "orders.created_at", "compareDateRange": ["this week", "last week"]}
            ],
        },
    )
    assert "expand_query" in str(err)


RANGES = {
    "today": ("2024-06-15 00:00", "2024-06-15"),
    "yesterday": ("2024-06-14 00:00", "2024-06-14"),
    "tomorrow": ("2024-06-16 00:00", "2024-06-16"),
    "this week": ("2024-06-10 00:00", "2024-06-16"),
    "next week": ("2024-06-17 00:00", "2024-06-23"),
    "last month": ("2024-05-01 00:00", "2024-05-31"),
    "this quarter": ("2024-04-01 00:00", "2024-06-30"),
    "next quarter": ("2024-07-01 00:00", "2024-09-30"),
    "last year": ("2023-01-01 00:00", "2023-12-31"),
    "last 7 days": ("2024-06-08 00:00", "2024-06-14"),
    "last 1 week": ("2024-06-03 00:00", "2024-06-09"),
    "last 3 months": ("2024-03-01 00:00", "2024-05-31"),
    "next 2 days": ("2024-06-16 00:00", "2024-06-17"),
    "next 2 months": ("2024-07-01 00:00", "2024-08-31"),
    "last 2 years": ("2022-01-01 00:00", "2023-12-31"),
    "from 3 days ago to yesterday": ("2024-06-12 00:00", "2024-06-14"),
    "from 2024-02-01 to 2024-02-29": ("2024-02-01 00:00", "2024-02-29"),
    "from 1 year ago to 1 month ago": ("2023-06-15 00:00", "2024-05-15"),
    "2024-03-05": ("2024-03-05 00:00", "2024-03-05"),
}


@pytest.mark.parametrize("phrase", sorted(RANGES))
def test_relative_date_ranges(phrase):
    start, end = resolve_range(phrase, "UTC", NOW, "dateRange")
    want_start, want_end = RANGES[phrase]
    assert start == dt.datetime.fromisoformat(want_start)
    assert end == dt.datetime.fromisoformat(want_end) + dt.timedelta(days=1, microseconds=-1)


def test_relative_ranges_use_the_query_timezone():
    late = dt.datetime(2024, 6, 30, 22, 0, tzinfo=dt.UTC)  # already July 1 in Berlin
    start, _ = resolve_range("this month", "Europe/Berlin", late, "dateRange")
    assert start == dt.datetime(2024, 7, 1)
    start, _ = resolve_range("this month", "UTC", late, "dateRange")
    assert start == dt.datetime(2024, 6, 1)
    start, end = resolve_range("from 2 hours ago to now", "UTC", NOW, "dateRange")
    assert (start, end) == (dt.datetime(2024, 6, 15, 8, 30), dt.datetime(2024, 6, 15, 10, 30))
