"""The generated SQL: one statement per dialect, logical schemas mapped on the tree, safe
aliases, and multiplied measures computed at the primary-key grain (a plain join double-counts)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from tenantry.semantic.compiler import compile_query
from tests.semantic.compiler_helpers import ANYONE, NOW, DuckWarehouse, load_model, norm_rows

EXTRA = """
cubes:
  - name: LongNames
    sql: >
      WITH base AS (SELECT id, 'shop.orders' AS label, amount FROM shop.orders)
      SELECT base.*, s.region FROM base JOIN shop.stores s ON s.id = base.id
    dimensions:
      - name: a_really_quite_extraordinarily_long_dimension_name_for_testing_aliases
        sql: label
        type: string
      - name: createdAt
        sql: region
        type: string
    measures:
      - name: count
        type: count
      - name: approx
        sql: id
        type: count_distinct_approx
"""


def compile_(model, query, **kw):
    kw.setdefault("context", ANYONE)
    return compile_query(model, query, now=NOW, **kw)


def test_count_distinct_approx_per_dialect():
    model = load_model()
    query = {"measures": ["orders.approx_customers"]}
    assert "APPROX_COUNT_DISTINCT" in compile_(model, query, dialect="duckdb").sql
    pg = compile_(model, query, dialect="postgres").sql
    assert "COUNT(DISTINCT" in pg and "APPROX" not in pg
    assert compile_(model, query, dialect="postgresql").dialect == "postgres"


def test_logical_schemas_are_mapped_on_the_tree():
    model = load_model({"extra.yml": EXTRA})
    compiled = compile_(
        model,
        {"measures": ["orders.count", "stores.count"], "dimensions": ["stores.region"]},
        dialect="postgres",
        schemas={"shop": "acme_shop_marts"},
    )
    tables = {
        (t.db, t.name) for t in sqlglot.parse_one(compiled.sql, read="postgres").find_all(exp.Table)
    }
    assert tables == {("acme_shop_marts", "orders"), ("acme_shop_marts", "stores")}
    compiled = compile_(
        model, {"measures": ["LongNames.count"]}, dialect="postgres", schemas={"shop": "phys"}
    )
    assert "'shop.orders'" in compiled.sql  # a string literal is not a table
    tree = sqlglot.parse_one(compiled.sql, read="postgres")
    named = {(t.db, t.name) for t in tree.find_all(exp.Table)}
    assert ("phys", "orders") in named and ("phys", "stores") in named and ("", "base") in named
    # DuckDB without a mapping keeps the names as written
    assert "shop.orders" in compile_(model, {"measures": ["orders.count"]}).sql


def test_aliases_are_safe_and_mapped_back():
    model = load_model({"extra.yml": EXTRA})
    wh = DuckWarehouse()
    try:
        long = "LongNames.a_really_quite_extraordinarily_long_dimension_name_for_testing_aliases"
        compiled = wh.compile(
            model,
            {
                "measures": ["LongNames.count", "LongNames.approx"],
                "dimensions": [long, "LongNames.createdAt"],
            },
        )
        assert all(len(alias) <= 63 and alias == alias.lower() for alias, _ in compiled.columns)
        assert [key for _, key in compiled.columns] == [
            long,
            "LongNames.createdAt",
            "LongNames.count",
            "LongNames.approx",
        ]
        names, rows = wh.run(compiled.sql)
        assert names == [alias for alias, _ in compiled.columns]
        assert rows
    finally:
        wh.close()


def test_every_compiled_query_is_one_select():
    model = load_model()
    queries = [
        {"measures": ["orders.count", "line_items.count"], "dimensions": ["customers.city"]},
        {"measures": ["sales.revenue", "sales.items_sold"], "total": True},
        {"dimensions": ["orders.id"], "ungrouped": True, "total": True},
    ]
    for dialect in ("duckdb", "postgres"):
        for query in queries:
            compiled = compile_(model, query, dialect=dialect)
            for sql in filter(None, [compiled.sql, compiled.total_sql]):
                statements = sqlglot.parse(sql, read=dialect)
                assert len(statements) == 1 and isinstance(statements[0], exp.Select)


def test_multiplied_measures_are_not_double_counted():
    model = load_model()
    wh = DuckWarehouse()
    try:
        query = {
            "measures": ["orders.revenue", "orders.count", "line_items.quantity_total"],
            "dimensions": ["orders.store_id"],
            "order": {"orders.store_id": "asc"},
        }
        compiled = wh.compile(model, query)
        got = norm_rows(wh.run(compiled.sql)[1])
        naive = norm_rows(
            wh.run(
                "SELECT o.store_id, sum(o.amount), count(o.id), sum(li.quantity) FROM orders o "
                "LEFT JOIN line_items li ON li.order_id = o.id GROUP BY 1 ORDER BY 1"
            )[1]
        )
        truth = norm_rows(
            wh.run(
                "SELECT store_id, sum(amount), count(*), "
                "(SELECT sum(quantity) FROM line_items li JOIN orders x ON li.order_id = x.id "
                " WHERE x.store_id = o.store_id) FROM orders o GROUP BY 1 ORDER BY 1"
            )[1]
        )
        assert got == truth
        assert [r[1] for r in naive] != [r[1] for r in truth]  # the plain join inflates revenue
        assert "DISTINCT" in compiled.sql  # the keys subquery
    finally:
        wh.close()


def test_count_without_primary_key_counts_rows():
    model = load_model(
        {
            "e.yml": """
cubes:
  - name: events
    sql_table: shop.orders
    measures: [{name: count, type: count}]
"""
        }
    )
    assert "COUNT(*)" in compile_(model, {"measures": ["events.count"]}).sql
