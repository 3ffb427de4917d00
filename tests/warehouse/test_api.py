"""The warehouse API: each organization queries only its own warehouse, read-only, guarded."""

from __future__ import annotations

from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.service import duckdb_path
from tests.helpers import api_key


def _load(settings, org_id: str, rows: list[tuple[int, str]]) -> None:
    with DuckDBWarehouse(duckdb_path(settings, org_id)).write() as conn:
        conn.execute("CREATE TABLE raw.customers (id INTEGER, name VARCHAR)")
        conn.executemany("INSERT INTO raw.customers VALUES (?, ?)", rows)


def _org_id(client, person, slug):
    return client.get(f"/api/v1/orgs/{slug}", headers=person.h).json()["id"]


def test_each_organization_sees_only_its_own_warehouse(client, settings, world):
    viewer, b_owner = world.people["viewer"], world.b_owner
    _load(settings, _org_id(client, viewer, world.a), [(1, "Ada"), (2, "Grace")])
    _load(settings, _org_id(client, b_owner, world.b), [(9, "Globex only")])

    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query",
        json={"sql": "select name from raw.customers order by id"},
        headers=viewer.h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == [["Ada"], ["Grace"]] and body["columns"][0]["name"] == "name"
    assert body["sql"].endswith("LIMIT 1001") and body["tables"] == ["raw.customers"]
    assert body["truncated"] is False and body["limit"] == 1000
    r = client.post(
        f"/api/v1/orgs/{world.b}/warehouse/query",
        json={"sql": "select name from raw.customers"},
        headers=b_owner.h,
    )
    assert r.json()["rows"] == [["Globex only"]]
    # B's people (and keys) cannot reach A's warehouse at all.
    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query", json={"sql": "select 1"}, headers=b_owner.h
    )
    assert r.status_code == 404

    described = client.get(f"/api/v1/orgs/{world.a}/warehouse", headers=viewer.h).json()
    assert described["kind"] == "duckdb"
    assert described["tables"] == [
        {
            "schema": "raw",
            "name": "customers",
            "columns": [{"name": "id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}],
        }
    ]


def test_unsafe_or_broken_sql_is_a_clear_422(client, world):
    h = world.people["viewer"].h
    url = f"/api/v1/orgs/{world.a}/warehouse/query"
    r = client.post(url, json={"sql": "drop table raw.customers"}, headers=h)
    assert (
        r.status_code == 422
        and r.json()["errors"][0]["field"] == "sql"
        and "DROP" in r.json()["detail"]
    )
    r = client.post(url, json={"sql": "select * from read_csv('/etc/passwd')"}, headers=h)
    assert r.status_code == 422 and "read_csv" in r.json()["detail"]
    r = client.post(url, json={"sql": "select * from raw.nope"}, headers=h)
    assert r.status_code == 422 and "nope" in r.json()["detail"] and "Traceback" not in r.text
    r = client.post(url, json={"sql": "select 1", "limit": 10_001}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


def test_read_scoped_keys_can_query(client, world):
    key = api_key(client, world.people["owner"], world.a, ["read"])["key"]
    r = client.post(
        f"/api/v1/orgs/{world.a}/warehouse/query",
        json={"sql": "select 42 as answer", "limit": 5},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200 and r.json()["rows"] == [[42]]
