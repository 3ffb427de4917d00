"""The embedded DuckDB warehouse: per-organization files, read-only queries, locking."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tenantry.core.errors import Unavailable, ValidationFailed
from tenantry.warehouse.duckdb_store import DuckDBWarehouse


@pytest.fixture
def wh(tmp_path):
    w = DuckDBWarehouse(tmp_path / "org" / "warehouse.duckdb", lock_timeout=5)
    with w.write() as conn:
        conn.execute(
            "CREATE TABLE raw.orders AS SELECT range AS id, range * 1.5 AS total FROM range(50)"
        )
    return w


def test_new_warehouse_has_the_three_schemas(tmp_path):
    w = DuckDBWarehouse(tmp_path / "w.duckdb")
    assert w.tables() == []
    with w.read() as conn:
        names = {
            r[0]
            for r in conn.execute("select schema_name from information_schema.schemata").fetchall()
        }
    assert {"raw", "staging", "marts"} <= names


def test_query_returns_typed_columns_and_honours_the_limit(wh):
    result = wh.query("SELECT id, total FROM raw.orders ORDER BY id", limit=10, timeout=10)
    assert [c["name"] for c in result.columns] == ["id", "total"]
    assert result.rows[0] == [0, "0.0"] or result.rows[0] == [0, 0.0]
    assert len(result.rows) == 10 and result.truncated


def test_the_connection_itself_refuses_files_and_writes(wh, tmp_path):
    """Second layer: even SQL that skipped the guard cannot read files or write."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        "CREATE TABLE x (a INT)",
        f"COPY raw.orders TO '{tmp_path}/out.csv'",
        "SET enable_external_access = true",
    ):
        with pytest.raises(ValidationFailed):
            wh.query(sql, limit=10, timeout=10)
    assert not (tmp_path / "out.csv").exists()


def test_long_queries_are_stopped(wh):
    with pytest.raises(ValidationFailed, match="took longer than"):
        wh.query("SELECT count(*) FROM range(10000000000) a, range(100) b", limit=1, timeout=0.5)


def test_nothing_is_held_open_between_operations(wh):
    wh.query("SELECT 1", limit=1, timeout=10)
    # Another process can open the file for writing straight away.
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "c.execute('create table staging.t as select 1 a'); c.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(wh.path)], check=True, timeout=60)
    assert any(t["name"] == "t" for t in wh.tables())


def test_readers_and_writers_take_turns_across_threads(wh):
    errors = []

    def writer(i):
        try:
            with wh.write() as conn:
                conn.execute(f"CREATE OR REPLACE TABLE staging.w{i % 3} AS SELECT {i} AS v")
        except Exception as exc:  # collected: any error fails the test below
            errors.append(exc)

    def reader():
        try:
            wh.query("SELECT count(*) FROM raw.orders", limit=1, timeout=10)
        except Exception as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=writer if i % 2 else reader, args=(i,) if i % 2 else ())
        for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_a_busy_warehouse_says_so(wh):
    quick = DuckDBWarehouse(wh.path, lock_timeout=0.2)
    with wh.write(), pytest.raises(Unavailable, match="busy"):
        quick.query("SELECT 1", limit=1, timeout=5)
