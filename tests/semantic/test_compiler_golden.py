"""Golden tests: each case in tests/semantic/golden/*.yml is a Cube query and hand-written SQL that
computes the expected answer. The compiled query and the expected SQL run on the same data — in
DuckDB always, and in PostgreSQL when TENANTRY_TEST_POSTGRES_URL is set — and must agree."""

from __future__ import annotations

import pytest
import yaml

from tenantry.semantic.compiler import SecurityContext, expand_query, shape_rows
from tests.semantic.compiler_helpers import (
    GOLDEN,
    DuckWarehouse,
    PgWarehouse,
    load_model,
    norm_rows,
    sort_key,
)


def _cases():
    out = []
    for path in sorted(GOLDEN.glob("*.yml")):
        for case in yaml.safe_load(path.read_text()):
            out.append(pytest.param(case, id=f"{path.stem}-{case['name']}"))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def duck():
    wh = DuckWarehouse()
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def pg(postgres_url):
    if postgres_url is None:
        yield None
        return
    wh = PgWarehouse(postgres_url)
    yield wh
    wh.close()


def check(wh, model, case) -> None:
    ctx = case.get("context") or {}
    context = SecurityContext(claims=ctx.get("claims") or {}, roles=tuple(ctx.get("roles") or ()))
    kind, queries = expand_query(case["query"])
    expected_sqls = case.get("sqls") or [case["sql"]]
    assert kind == case.get("expand", "regularQuery")
    assert len(queries) == len(expected_sqls)
    for query, expected_sql in zip(queries, expected_sqls, strict=True):
        compiled = wh.compile(model, query, context=context)
        names, got = wh.run(compiled.sql)
        assert names == [alias for alias, _ in compiled.columns]
        _, want = wh.run(expected_sql)
        got, want = norm_rows(got), norm_rows(want)
        if case.get("ordered") is True:
            assert got == want, compiled.sql
        else:
            assert sorted(got, key=sort_key) == sorted(want, key=sort_key), compiled.sql
        if case.get("ordered_by"):
            keys = case["ordered_by"]
            assert [tuple(r[i] for i in keys) for r in got] == [
                tuple(r[i] for i in keys) for r in want
            ]
        shaped = shape_rows(compiled, names, wh.run(compiled.sql)[1])
        assert len(shaped) == len(got)
        if "total_sql" in case:
            assert compiled.total_sql is not None
            assert wh.run(compiled.total_sql)[1] == wh.run(case["total_sql"])[1]
        else:
            assert compiled.total_sql is None


def test_golden_cases_cover_every_operator():
    from tenantry.semantic.compiler.query import OPERATORS

    used = set()

    def walk(filters):
        for f in filters or []:
            if "or" in f or "and" in f:
                walk(f.get("or") or f.get("and"))
            else:
                used.add(f["operator"])

    for param in CASES:
        query = param.values[0]["query"]
        for q in query if isinstance(query, list) else [query]:
            walk(q.get("filters"))
    assert OPERATORS - used == set()


@pytest.mark.parametrize("case", CASES)
def test_golden_duckdb(duck, model, case):
    check(duck, model, case)


@pytest.mark.parametrize("case", CASES)
def test_golden_postgres(pg, model, case):
    if pg is None:
        pytest.skip("TENANTRY_TEST_POSTGRES_URL is not set (CI sets it)")
    check(pg, model, case)
