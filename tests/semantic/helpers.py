"""Semantic-layer test helpers: data in an organization's own warehouse, a model, a token."""

from __future__ import annotations

import datetime as dt

import duckdb

from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.service import duckdb_path

SALES_MODEL = """cubes:
  - name: sales
    sql_table: marts.sales
    refresh_key:
      every: 1 hour
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
        public: true
      - name: store_id
        sql: store_id
        type: number
      - name: region
        sql: region
        type: string
      - name: sold_at
        sql: sold_at
        type: time
    measures:
      - name: count
        type: count
      - name: amount
        sql: amount
        type: sum
    access_policy:
      - role: store_user
        row_level:
          filters:
            - member: store_id
              operator: equals
              values: ["{ securityContext.store_id }"]
      - role: manager
        row_level:
          allow_all: true
      - role: auditor
        member_level:
          includes: [count, region]
        row_level:
          allow_all: true
"""
OPEN_MODEL = SALES_MODEL[: SALES_MODEL.index("    access_policy:")]
ORDERS = """cubes:
  - name: orders
    sql_table: marts.orders
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: status
        sql: status
        type: string
    measures:
      - name: count
        type: count
"""


def put_model(client, who, org: str, files: dict[str, str], **extra):
    return client.put(
        f"/api/v1/orgs/{org}/semantic/model", json={"files": files, **extra}, headers=who.h
    )


def org_id(client, who, slug: str) -> str:
    return client.get(f"/api/v1/orgs/{slug}", headers=who.h).json()["id"]


def write_sales(settings, org: str, rows: list[tuple]) -> None:
    """(id, store_id, region, sold_at, amount) rows into the organization's marts.sales."""
    store = DuckDBWarehouse(duckdb_path(settings, org))
    with store.write() as conn:
        conn.execute(
            "CREATE OR REPLACE TABLE marts.sales (id INTEGER, store_id INTEGER, region VARCHAR, "
            "sold_at TIMESTAMP, amount DECIMAL(12, 2))"
        )
        conn.executemany("INSERT INTO marts.sales VALUES (?, ?, ?, ?, ?)", rows)


def sample_rows(seed: int, n: int = 40) -> list[tuple]:
    start = dt.datetime(2024, 1, 1)
    regions = ["north", "south", "east"]
    return [
        (i, 1 + (i * seed) % 3, regions[(i + seed) % 3], start + dt.timedelta(days=i * 5), i * seed)
        for i in range(1, n + 1)
    ]


def expected(settings, org: str, sql: str) -> list[tuple]:
    """The same question answered by plain SQL on the organization's warehouse."""
    path = duckdb_path(settings, org)
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def save_model(client, who, slug: str, text: str = SALES_MODEL) -> None:
    r = client.put(
        f"/api/v1/orgs/{slug}/semantic/model", json={"files": {"sales.yml": text}}, headers=who.h
    )
    assert r.status_code in (200, 201), r.text


def token(client, who, slug: str, claims: dict | None = None, expires_in: int = 600) -> str:
    r = client.post(
        f"/api/v1/orgs/{slug}/semantic/tokens",
        json={"claims": claims or {}, "expires_in": expires_in},
        headers=who.h,
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def load(client, tok: str, query: dict, **params):
    return client.post(
        "/cubejs-api/v1/load", json={"query": query, **params}, headers={"Authorization": tok}
    )
