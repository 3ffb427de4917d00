"""The warehouse page: tables listed, read-only SQL run from the browser with inline errors."""

from __future__ import annotations

from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.service import duckdb_path
from tests.web.test_pages import browser_login, form_token


def test_viewer_browses_tables_and_runs_a_query(client, settings, world):
    org_id = client.get(f"/api/v1/orgs/{world.a}", headers=world.people["viewer"].h).json()["id"]
    with DuckDBWarehouse(duckdb_path(settings, org_id)).write() as conn:
        conn.execute(
            "CREATE TABLE raw.orders AS SELECT range AS id, 'o' || range AS code FROM range(3)"
        )
    browser_login(client, "viewer@a.example")
    page = client.get(f"/o/{world.a}/warehouse")
    assert (
        page.status_code == 200
        and "raw.orders" in page.text
        and 'data-nav="warehouse"' in page.text
    )

    token = form_token(client, f"/o/{world.a}/warehouse")
    r = client.post(
        f"/o/{world.a}/warehouse",
        data={"csrf_token": token, "sql": "select code from raw.orders order by id"},
    )
    assert r.status_code == 200
    assert 'data-testid="result-table"' in r.text and "o2" in r.text and "3 rows" in r.text

    r = client.post(
        f"/o/{world.a}/warehouse", data={"csrf_token": token, "sql": "delete from raw.orders"}
    )
    assert r.status_code == 422
    assert (
        'id="e-sql"' in r.text
        and "DELETE statement" in r.text
        and "delete from raw.orders" in r.text
    )
