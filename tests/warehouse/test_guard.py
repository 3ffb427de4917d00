"""The read-only SQL guard against golden cases (tests/warehouse/guard_cases.sql)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.core.errors import ValidationFailed
from tenantry.warehouse.duckdb_store import SCHEMAS
from tenantry.warehouse.guard import guard

CASES_FILE = Path(__file__).with_name("guard_cases.sql")


def load_cases():
    cases, name, sql_lines = [], None, []
    for line in CASES_FILE.read_text().splitlines():
        if line.startswith("-- case:"):
            name, sql_lines = line.removeprefix("-- case:").strip(), []
        elif line.startswith("-- =>") or line.startswith("-- refused:"):
            kind, _, expected = line.removeprefix("-- ").partition(" ")
            if kind == "=>":
                cases.append(pytest.param("\n".join(sql_lines), "ok", expected.strip(), id=name))
            else:
                words = expected.removeprefix("").strip()
                cases.append(pytest.param("\n".join(sql_lines), "refused", words, id=name))
            name = None
        elif name is not None:
            sql_lines.append(line)
    return cases


CASES = load_cases()


def test_the_golden_file_has_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize(("sql", "outcome", "expected"), CASES)
def test_guard_case(sql, outcome, expected):
    if outcome == "ok":
        assert (
            guard(sql, dialect="duckdb", limit=100, max_limit=10000, schemas=SCHEMAS).sql
            == expected
        )
    else:
        with pytest.raises(ValidationFailed) as err:
            guard(sql, dialect="duckdb", limit=100, max_limit=10000, schemas=SCHEMAS)
        assert err.value.errors[0]["field"] == "sql"
        assert expected in err.value.detail, err.value.detail


def test_limit_bounds_name_the_field():
    for bad in (0, 10001):
        with pytest.raises(ValidationFailed) as err:
            guard("select 1", dialect="duckdb", limit=bad, max_limit=10000, schemas=SCHEMAS)
        assert err.value.errors[0]["field"] == "limit"


def test_tables_read_are_reported_without_ctes_or_functions():
    sql = "with r as (select * from raw.orders) select * from r join customers c using (id)"
    q = guard(sql + ", range(2)", dialect="duckdb", limit=10, max_limit=100, schemas=SCHEMAS)
    assert sorted(q.tables) == ["customers", "raw.orders"]


def test_postgres_dialect():
    pg = {
        "dialect": "postgres",
        "limit": 10,
        "max_limit": 10,
        "schemas": ["acme_raw", "acme_marts"],
    }
    q = guard("select now()::date, * from acme_marts.revenue", **pg)
    assert q.sql == "SELECT CAST(CURRENT_TIMESTAMP AS DATE), * FROM acme_marts.revenue LIMIT 10"
    for sql, words in [
        ("select pg_read_file('/etc/passwd')", "pg_read_file"),
        ("select pg_catalog.\"set_config\"('work_mem', '2GB', false)", "schema-qualified"),
        ("select query_to_xml('select 1', true, false, '')", "query_to_xml"),
        ("select pg_notify('chan', 'hi')", "pg_notify"),
        ("select pg_try_advisory_lock(1)", "pg_try_advisory_lock"),
        ("select nextval('s')", "nextval"),
        ("select version()", "version"),
        ("select * from pg_settings", "system catalog"),
        ("select * from pg_catalog.pg_roles", "not part of this warehouse"),
        ("select * from globex_raw.customers", "not part of this warehouse"),
    ]:
        with pytest.raises(ValidationFailed, match=words):
            guard(sql, **pg)
    # Allowed, but capped from outside.
    capped = guard("select * from acme_raw.t fetch first 5 rows with ties", **pg)
    assert capped.sql.endswith("AS guarded LIMIT 10")
