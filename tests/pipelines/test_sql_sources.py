"""SQL sources loaded by real dlt runs into the organization's DuckDB warehouse."""

from __future__ import annotations

from tests.pipelines.helpers import (
    connection,
    logs,
    make_sqlite,
    org_dir,
    pipeline,
    query,
    run,
)


def _rows(start, stop, amount=1.0):
    return [(i, f"c{i % 7}", amount * i, f"2024-01-{(i % 28) + 1:02d}") for i in range(start, stop)]


def _shop(client, settings, world):
    owner = world.people["owner"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "shop.sqlite", _rows(1, 101))
    return connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})


def test_sqlite_table_loads_into_the_duckdb_warehouse(client, settings, world):
    source = _shop(client, settings, world)
    editor = world.people["editor"]
    p = pipeline(client, editor, world.a, "Orders", source, {"mode": "table", "table": "orders"})
    done = run(client, editor, world.a, p["id"])
    assert done["status"] == "succeeded", done
    assert done["tables"]["orders"]["rows"] == 100
    assert done["tables"]["orders"]["bytes"] > 0
    assert done["rows_loaded"] == 100 and done["trigger"] == "api" or done["trigger"] == "manual"
    assert query(client, editor, world.a, "SELECT count(*), sum(amount) FROM raw.orders") == [
        [100, 5050.0]
    ]
    text = logs(client, editor, world.a, done["id"])
    assert "Extracting orders" in text and "Succeeded: 100 rows" in text
    # dlt's own warnings reach the run's log, not only the server's.
    assert "dlt: A column with name amount contains unknown data type REAL" in text


def test_incremental_loads_only_new_rows_and_filters_are_pushed_down(client, settings, world):
    source = _shop(client, settings, world)
    editor = world.people["editor"]
    spec = {
        "mode": "table",
        "table": "orders",
        "incremental": {"cursor_column": "id", "initial_value": 0},
        "filters": [{"column": "amount", "operator": "gte", "value": 11}],
    }
    p = pipeline(client, editor, world.a, "New orders", source, spec)
    first = run(client, editor, world.a, p["id"])
    assert first["tables"]["orders"]["rows"] == 90  # ids 11..100
    # The source really received the WHERE clause: the statement it ran says so.
    text = logs(client, editor, world.a, first["id"])
    source_sql = [line for line in text.splitlines() if line.startswith("Source query:")]
    assert any("WHERE" in s and "amount >=" in s for s in source_sql), source_sql

    owner = world.people["owner"]
    make_sqlite(org_dir(client, settings, owner, world.a) / "shop.sqlite", _rows(101, 111))
    second = run(client, editor, world.a, p["id"])
    assert second["status"] == "succeeded"
    assert second["tables"]["orders"]["rows"] == 10
    assert query(client, editor, world.a, "SELECT count(*), min(id) FROM raw.orders") == [[100, 11]]


def test_merge_updates_changed_rows_and_replace_replaces(client, settings, world):
    source = _shop(client, settings, world)
    editor, owner = world.people["editor"], world.people["owner"]
    merge = pipeline(
        client,
        editor,
        world.a,
        "Merged",
        source,
        {
            "mode": "table",
            "table": "orders",
            "write_disposition": "merge",
            "primary_key": ["id"],
            "table_name": "orders_merged",
        },
    )
    replace = pipeline(
        client,
        editor,
        world.a,
        "Replaced",
        source,
        {
            "mode": "table",
            "table": "orders",
            "write_disposition": "replace",
            "table_name": "orders_replaced",
        },
    )
    first = run(client, editor, world.a, merge["id"])
    assert first["status"] == "succeeded", first["error"]
    assert run(client, editor, world.a, replace["id"])["status"] == "succeeded"
    path = org_dir(client, settings, owner, world.a) / "shop.sqlite"
    make_sqlite(path, [(5, "changed", 999.0, "2024-02-01")] + _rows(101, 103))
    assert run(client, editor, world.a, merge["id"])["status"] == "succeeded"
    assert run(client, editor, world.a, replace["id"])["status"] == "succeeded"
    assert query(
        client,
        editor,
        world.a,
        "SELECT count(*), max(amount) FILTER (WHERE id = 5) FROM raw.orders_merged",
    ) == [[102, 999.0]]
    assert query(client, editor, world.a, "SELECT count(*) FROM raw.orders_replaced") == [[102]]


def test_merge_without_a_primary_key_is_refused_with_the_field(client, settings, world):
    source = _shop(client, settings, world)
    r = client.post(
        f"/api/v1/orgs/{world.a}/pipelines",
        json={
            "name": "Bad",
            "source_id": source,
            "spec": {"mode": "table", "table": "orders", "write_disposition": "merge"},
        },
        headers=world.people["editor"].h,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "spec.primary_key"
    assert "merge needs a primary key" in r.json()["errors"][0]["message"]


def test_freeze_contract_rejects_a_new_column_with_a_clear_error(client, settings, world):
    source = _shop(client, settings, world)
    editor, owner = world.people["editor"], world.people["owner"]
    p = pipeline(
        client,
        editor,
        world.a,
        "Frozen",
        source,
        {
            "mode": "table",
            "table": "orders",
            "schema_contract": "freeze",
            "write_disposition": "replace",
        },
    )
    assert run(client, editor, world.a, p["id"])["status"] == "succeeded"
    path = org_dir(client, settings, owner, world.a) / "shop.sqlite"
    make_sqlite(path, [(200, "x", 1.0, "2024-03-01", "SPRING")], extra_column=True)
    failed = run(client, editor, world.a, p["id"])
    assert failed["status"] == "failed" and failed["error_class"] == "terminal"
    assert "new column 'coupon'" in failed["error"] and "schema contract" in failed["error"]
    assert query(client, editor, world.a, "SELECT count(*) FROM raw.orders") == [[100]]
