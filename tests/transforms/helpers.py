"""Shared steps for transformation tests: a loaded warehouse, models, runs, DAG runs."""

from __future__ import annotations

from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline, run, wait

FINISHED = ("succeeded", "failed", "cancelled", "skipped")


def orders(start: int, stop: int, amount: float = 1.0) -> list[tuple]:
    return [(i, f"c{i % 7}", amount * i, f"2024-01-{(i % 28) + 1:02d}") for i in range(start, stop)]


def loaded_shop(client, settings, person, org: str, rows=None) -> dict:
    """A SQLite shop loaded into the org's warehouse as raw.orders; returns the pipeline."""
    make_sqlite(org_dir(client, settings, person, org) / "shop.sqlite", rows or orders(1, 101))
    source = connection(client, person, org, "Shop", "sqlite", {"path": "shop.sqlite"})
    spec = {"mode": "table", "table": "orders", "write_disposition": "merge", "primary_key": ["id"]}
    p = pipeline(client, person, org, "Orders", source, spec)
    done = run(client, person, org, p["id"])
    assert done["status"] == "succeeded", done
    return p


def model(client, person, org: str, name: str, sql: str, **extra) -> dict:
    r = client.post(
        f"/api/v1/orgs/{org}/transformations",
        json={"name": name, "sql": sql, **extra},
        headers=person.h,
    )
    assert r.status_code == 201, r.text
    return r.json()


def finished(client, person, org: str, run_id: str, timeout: float = 180) -> dict:
    return wait(
        client, person, org, run_id, timeout=timeout, until=lambda r: r["status"] in FINISHED
    )


def dag_run(client, person, org: str, timeout: float = 240, **body) -> dict:
    r = client.post(f"/api/v1/orgs/{org}/dag/run", json=body, headers=person.h)
    assert r.status_code == 202, r.text
    return finished(client, person, org, r.json()["id"], timeout)


def children(client, person, org: str, dag_run_id: str) -> dict[str, dict]:
    r = client.get(
        f"/api/v1/orgs/{org}/runs", params={"parent_id": dag_run_id, "size": 100}, headers=person.h
    )
    assert r.status_code == 200, r.text
    return {item["target_name"]: item for item in r.json()["items"]}
