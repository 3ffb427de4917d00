"""Shared by the compiler tests: the golden data model, a small deterministic shop dataset, and
real DuckDB / PostgreSQL databases holding it under a uniquely named schema."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb

from tenantry.semantic.compiler import SecurityContext, compile_query
from tenantry.semantic.compiler import dates as compiler_dates
from tenantry.semantic.schema import build_model

GOLDEN = Path(__file__).parent / "golden"
MODEL_DIR = GOLDEN / "model"
NOW = dt.datetime(2024, 6, 15, 10, 30, tzinfo=dt.UTC)
ANYONE = SecurityContext(claims={}, roles=())

TABLES = {
    "stores": [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
        ("region", "VARCHAR"),
        ("opened_at", "DATE"),
    ],
    "customers": [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
        ("city", "VARCHAR"),
        ("tier", "VARCHAR"),
        ("store_id", "INTEGER"),
        ("signed_up_at", "TIMESTAMP"),
        ("is_vip", "BOOLEAN"),
    ],
    "orders": [
        ("id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("store_id", "INTEGER"),
        ("status", "VARCHAR"),
        ("amount", "DECIMAL(10,2)"),
        ("note", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ],
    "line_items": [
        ("id", "INTEGER"),
        ("order_id", "INTEGER"),
        ("product", "VARCHAR"),
        ("quantity", "INTEGER"),
        ("price", "DECIMAL(10,2)"),
    ],
}
NOTES = [None, "50% off", "under_score", "O'Brien", "gift", "GIFT wrap", "back\\slash", "Zoë"]


def dataset() -> dict[str, list[tuple]]:
    """A few hundred rows over 2023-01-01 .. 2024-06-30, with NULLs and awkward strings."""
    rng = random.Random(20240615)
    stores = [
        (1, "North Store", "north", dt.date(2020, 3, 1)),
        (2, "South Store", "south", dt.date(2021, 7, 15)),
        (3, "East Store", "east", dt.date(2022, 1, 10)),
        (4, "Online", None, dt.date(2023, 5, 5)),
    ]
    cities = ["Berlin", "Paris", "Lisbon", None]
    customers = []
    for i in range(1, 41):
        customers.append(
            (
                i,
                f"Customer {i}" if i % 9 else "O'Brien",
                cities[i % 4],
                ["gold", "silver", "bronze"][i % 3],
                i % 4 + 1,
                dt.datetime(2022, 1, 1) + dt.timedelta(days=i * 11, hours=i),
                i % 5 == 0,
            )
        )
    start = dt.datetime(2023, 1, 1)
    span = int((dt.datetime(2024, 7, 1) - start).total_seconds())
    orders, items = [], []
    item_id = 0
    for i in range(1, 301):
        created = start + dt.timedelta(seconds=rng.randrange(span))
        orders.append(
            (
                i,
                None if i % 37 == 0 else rng.randint(1, 40),
                rng.randint(1, 4),
                None
                if i % 50 == 0
                else rng.choice(["completed", "completed", "pending", "cancelled"]),
                None if i % 23 == 0 else Decimal(rng.randint(500, 25000)) / 100,
                rng.choice(NOTES),
                created.replace(microsecond=0),
            )
        )
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
            item_id += 1
            items.append(
                (
                    item_id,
                    i,
                    rng.choice(["tea", "coffee", "mug", "beans"]),
                    rng.randint(1, 5),
                    Decimal(rng.randint(100, 3000)) / 100,
                )
            )
    return {"stores": stores, "customers": customers, "orders": orders, "line_items": items}


def load_model(extra: dict[str, str] | None = None):
    files = {p.name: p.read_text() for p in sorted(MODEL_DIR.glob("*.yml"))}
    files.update(extra or {})
    return build_model(files)


def unique_schema() -> str:
    return "golden_" + uuid.uuid4().hex[:10]


def _ddl(schema: str, table: str, pg: bool) -> str:
    cols = ", ".join(
        f"{name} {kind.replace('VARCHAR', 'TEXT') if pg else kind}" for name, kind in TABLES[table]
    )
    return f'CREATE TABLE "{schema}".{table} ({cols})'


class Warehouse:
    """One database holding the dataset; ``run`` returns (column names, rows)."""

    dialect = "duckdb"

    def __init__(self, schema: str):
        self.schema = schema
        self.schemas = {"shop": schema}

    def run(self, sql: str) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def compile(self, model, query, **kwargs):
        kwargs.setdefault("context", ANYONE)
        kwargs.setdefault("now", NOW)
        return compile_query(model, query, dialect=self.dialect, schemas=self.schemas, **kwargs)


class DuckWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, schema: str | None = None, path: str = ":memory:"):
        super().__init__(schema or unique_schema())
        self.conn = duckdb.connect(path)
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(f'CREATE SCHEMA "{self.schema}"')
        for table, rows in dataset().items():
            self.conn.execute(_ddl(self.schema, table, pg=False))
            marks = ", ".join("?" for _ in TABLES[table])
            self.conn.executemany(f'INSERT INTO "{self.schema}".{table} VALUES ({marks})', rows)
        self.conn.execute(f"SET search_path = '{self.schema}'")

    def run(self, sql: str):
        cur = self.conn.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()

    def close(self):
        self.conn.close()


def psycopg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class PgWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, url: str):
        import psycopg2
        from psycopg2.extras import execute_values

        super().__init__(unique_schema())
        self.conn = psycopg2.connect(psycopg_url(url))
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(f'CREATE SCHEMA "{self.schema}"')
            for table, rows in dataset().items():
                cur.execute(_ddl(self.schema, table, pg=True))
                execute_values(cur, f'INSERT INTO "{self.schema}".{table} VALUES %s', rows)
            cur.execute(f'SET search_path TO "{self.schema}"')

    def run(self, sql: str):
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()

    def close(self):
        with contextlib.suppress(Exception), self.conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        self.conn.close()


def norm(value):
    """One comparable form for a value from either engine."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(Decimal(str(value)).quantize(Decimal("0.000001")))
    if isinstance(value, dt.datetime):
        return compiler_dates.fmt(value.replace(tzinfo=None))
    if isinstance(value, dt.date):
        return compiler_dates.fmt(dt.datetime(value.year, value.month, value.day))
    return value


def norm_rows(rows) -> list[tuple]:
    return [tuple(norm(v) for v in row) for row in rows]


def sort_key(row: tuple):
    return tuple((v is None, str(v)) for v in row)
