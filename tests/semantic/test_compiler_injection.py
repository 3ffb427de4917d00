"""Hostile input never becomes SQL: values are literals, names and keys are refused. Every
compiled statement parses as exactly one SELECT, runs, and leaves a canary table in place."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from tenantry.semantic.compiler import QueryError, SecurityContext
from tests.semantic.compiler_helpers import DuckWarehouse, PgWarehouse, load_model

HOSTILE = [
    "'; DROP TABLE canary; --",
    "\\'; DROP TABLE canary; --",
    '"); DROP TABLE canary; --',
    "1' OR '1'='1",
    "%' OR 1=1 --",
    "_%_",
    "$$; DROP TABLE canary; $$",
    "*/ DROP TABLE canary; /*",
    "x\n; DROP TABLE canary;\n--",
    "\u2019; DROP TABLE canary; --",
    "ünïcødé ☃ 𝔘",
    "\\",
    "E'\\x27'",
    "O'Brien",
]
STRING_OPERATORS = [
    "equals",
    "notEquals",
    "in",
    "notIn",
    "contains",
    "notContains",
    "startsWith",
    "notStartsWith",
    "endsWith",
    "notEndsWith",
    "gt",
    "lte",
]


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def wh(request, postgres_url):
    if request.param == "postgres":
        if postgres_url is None:
            pytest.skip("TENANTRY_TEST_POSTGRES_URL is not set (CI sets it)")
        found = PgWarehouse(postgres_url)
    else:
        found = DuckWarehouse()
    if found.dialect == "postgres":
        with found.conn.cursor() as cur:
            cur.execute("CREATE TABLE canary (alive INTEGER)")
            cur.execute("INSERT INTO canary VALUES (1)")
    else:
        found.conn.execute("CREATE TABLE canary (alive INTEGER)")
        found.conn.execute("INSERT INTO canary VALUES (1)")
    yield found
    found.close()


def one_select(sql: str, dialect: str) -> None:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    assert len(statements) == 1, sql
    assert isinstance(statements[0], exp.Select), sql


def run_safely(wh, compiled) -> list:
    for sql in [compiled.sql, compiled.total_sql]:
        if sql:
            one_select(sql, wh.dialect)
    _, rows = wh.run(compiled.sql)
    assert wh.run("SELECT alive FROM canary")[1] == [(1,)]
    return rows


@pytest.mark.parametrize("operator", STRING_OPERATORS)
def test_hostile_values_are_literals(wh, model, operator):
    for value in HOSTILE:
        query = {
            "measures": ["orders.count"],
            "dimensions": ["orders.note"],
            "filters": [{"member": "orders.note", "operator": operator, "values": [value, "gift"]}],
            "total": True,
        }
        run_safely(wh, wh.compile(model, query))


def test_hostile_values_match_only_themselves(wh, model):
    def count(value):
        query = {
            "measures": ["orders.count"],
            "filters": [{"member": "orders.note", "operator": "equals", "values": [value]}],
        }
        return run_safely(wh, wh.compile(model, query))[0][0]

    (obrien,) = wh.run("SELECT count(*) FROM orders WHERE note = 'O''Brien'")[1][0]
    assert obrien > 0 and count("O'Brien") == obrien
    assert count("1' OR '1'='1") == 0
    assert count("'; DROP TABLE canary; --") == 0
    assert count("back\\slash") > 0


def test_hostile_values_in_security_claims(wh, model):
    context = SecurityContext(claims={"store_id": 2}, roles=("store_staff",))
    for value in HOSTILE:
        query = {
            "measures": ["secure_orders.count"],
            "filters": [
                {"member": "secure_orders.status", "operator": "contains", "values": [value]}
            ],
        }
        run_safely(wh, wh.compile(model, query, context=context))


@pytest.mark.parametrize(
    "query",
    [
        {"measures": ["orders.count; DROP TABLE canary"]},
        {"measures": ['orders."count"']},
        {"measures": ["orders.count--"]},
        {"dimensions": ["orders.status) FROM canary; --"]},
        {"dimensions": ["orders.created_at.day; DROP TABLE canary"]},
        {"segments": ["orders.completed OR 1=1"], "measures": ["orders.count"]},
        {"measures": ["orders.count"], "order": {"orders.count; DROP TABLE canary": "asc"}},
        {"measures": ["orders.count"], "order": [["1; DROP TABLE canary", "desc"]]},
        {"measures": ["orders.count"], "order": {"orders.count": "desc; DROP TABLE canary"}},
        {"measures": ["orders.count"], "timezone": "UTC'; DROP TABLE canary; --"},
        {
            "measures": ["orders.count"],
            "timeDimensions": [{"dimension": "orders.created_at", "granularity": "day'); --"}],
        },
        {
            "measures": ["orders.count"],
            "timeDimensions": [
                {"dimension": "orders.created_at", "dateRange": ["2024-01-01'; --", "2024-02-01"]}
            ],
        },
        {
            "measures": ["orders.count"],
            "filters": [{"member": "orders.amount", "operator": "gt", "values": ["1 OR 1=1"]}],
        },
        {
            "measures": ["orders.count"],
            "filters": [{"member": "orders.store_id", "operator": "in", "values": ["1); DROP"]}],
        },
        {
            "measures": ["orders.count"],
            "filters": [
                {"member": "orders.created_at", "operator": "beforeDate", "values": ["now()"]}
            ],
        },
        {"measures": ["orders.count"], "limit": "10; DROP TABLE canary"},
        {"measures": ["orders.count"], "offset": "1 OR 1=1"},
        {"measures": ["orders.count"], "ungrouped; DROP": True},
        {
            "measures": ["orders.count"],
            "filters": [{"member": "orders.status", "operator": "equals; DROP", "values": ["x"]}],
        },
    ],
)
def test_hostile_names_and_keys_are_refused(wh, model, query):
    with pytest.raises(QueryError):
        wh.compile(model, query)
    assert wh.run("SELECT alive FROM canary")[1] == [(1,)]
