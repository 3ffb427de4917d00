"""Shared steps for pipeline tests: files in an org's storage, connections, pipelines, runs."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path

from tenantry.connections.storage import org_files


def org_id(client, person, org: str) -> str:
    return client.get(f"/api/v1/orgs/{org}", headers=person.h).json()["id"]


def org_dir(client, settings, person, org: str) -> Path:
    return org_files(settings, org_id(client, person, org))


def make_sqlite(path: Path, rows: list[tuple], *, extra_column: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    cols = "id INTEGER PRIMARY KEY, customer TEXT, amount REAL, updated_at TEXT"
    conn.execute(f"CREATE TABLE IF NOT EXISTS orders ({cols})")
    if extra_column:
        names = [r[1] for r in conn.execute("PRAGMA table_info(orders)")]
        if "coupon" not in names:
            conn.execute("ALTER TABLE orders ADD COLUMN coupon TEXT")
    placeholders = ",".join("?" * len(rows[0])) if rows else ""
    if rows:
        conn.executemany(f"INSERT OR REPLACE INTO orders VALUES ({placeholders})", rows)
    conn.commit()
    conn.close()


def connection(client, person, org: str, name: str, kind: str, config: dict) -> str:
    r = client.post(
        f"/api/v1/orgs/{org}/connections",
        json={"name": name, "kind": kind, "config": config},
        headers=person.h,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def pipeline(client, person, org: str, name: str, source_id: str, spec: dict, **extra) -> dict:
    r = client.post(
        f"/api/v1/orgs/{org}/pipelines",
        json={"name": name, "source_id": source_id, "spec": spec, **extra},
        headers=person.h,
    )
    assert r.status_code == 201, r.text
    return r.json()


def run(client, person, org: str, pipeline_id: str, *, timeout: float = 60) -> dict:
    r = client.post(f"/api/v1/orgs/{org}/pipelines/{pipeline_id}/run", headers=person.h)
    assert r.status_code == 202, r.text
    return wait(client, person, org, r.json()["id"], timeout=timeout)


def wait(client, person, org: str, run_id: str, *, timeout: float = 60, until=None) -> dict:
    until = until or (lambda r: r["status"] in ("succeeded", "failed", "cancelled"))
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/orgs/{org}/runs/{run_id}", headers=person.h).json()
        if until(body):
            return body
        assert time.monotonic() < deadline, f"run still {body['status']}: {body}"
        time.sleep(0.1)


def query(client, person, org: str, sql: str) -> list[list]:
    r = client.post(f"/api/v1/orgs/{org}/warehouse/query", json={"sql": sql}, headers=person.h)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def logs(client, person, org: str, run_id: str) -> str:
    r = client.get(f"/api/v1/orgs/{org}/runs/{run_id}/logs", headers=person.h)
    return "\n".join(line["message"] for line in r.json()["lines"])


def upload(client, person, org, name, content: bytes):
    r = client.post(
        f"/api/v1/orgs/{org}/files", files={"file": (name, io.BytesIO(content))}, headers=person.h
    )
    assert r.status_code == 201, r.text
