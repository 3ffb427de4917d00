"""The embedded warehouse: one DuckDB file per organization, opened per operation only."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantry.connections.kinds.duckdb import READ_CONFIG
from tenantry.core.errors import ValidationFailed
from tenantry.warehouse.locks import warehouse_lock

SCHEMAS = ("raw", "staging", "marts")


@dataclass(frozen=True)
class QueryResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


class DuckDBWarehouse:
    dialect = "duckdb"

    def __init__(self, path: Path, *, lock_timeout: float = 60.0):
        self.path = path
        self.lock_path = path.with_suffix(".lock")
        self.lock_timeout = lock_timeout

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A read-write connection, alone on this warehouse for as long as it is open."""
        import duckdb

        with warehouse_lock(self.lock_path, exclusive=True, timeout=self.lock_timeout):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.path))
            try:
                conn.execute("SET TimeZone = 'UTC'")
                for schema in SCHEMAS:
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                yield conn
            finally:
                conn.close()

    def ensure(self) -> None:
        if not self.path.exists():
            with self.write():
                pass

    @contextmanager
    def read(self) -> Iterator[Any]:
        import duckdb

        self.ensure()
        with warehouse_lock(self.lock_path, exclusive=False, timeout=self.lock_timeout):
            # Sessions run in UTC whatever the machine's zone (times compare and convert the
            # same everywhere); the configuration is locked only after setting it.
            unlocked = {k: v for k, v in READ_CONFIG.items() if k != "lock_configuration"}
            conn = duckdb.connect(str(self.path), read_only=True, config=unlocked)
            try:
                conn.execute("SET TimeZone = 'UTC'")
                conn.execute("SET lock_configuration = true")
            except duckdb.InvalidInputException:
                pass  # readers in this process share one instance, already set and locked
            try:
                yield conn
            finally:
                conn.close()

    def query(self, sql: str, *, limit: int, timeout: float) -> QueryResult:
        """Run an already guarded query, stopping it after ``timeout`` seconds."""
        import duckdb

        with self.read() as conn:
            timer = threading.Timer(timeout, conn.interrupt)
            timer.start()
            try:
                cursor = conn.execute(sql)
                rows = cursor.fetchmany(limit + 1)
                description = cursor.description or []
            except duckdb.InterruptException:
                raise ValidationFailed.field(
                    "sql", f"took longer than {timeout:.0f} s and was stopped; narrow it down"
                ) from None
            except duckdb.Error as exc:
                raise ValidationFailed.field("sql", _duckdb_message(exc)) from None
            finally:
                timer.cancel()
        columns = [{"name": d[0], "type": str(d[1])} for d in description]
        return QueryResult(columns, [jsonable(list(r)) for r in rows[:limit]], len(rows) > limit)

    def tables(self) -> list[dict[str, Any]]:
        """Schemas, tables and columns, for the UI and the API."""
        sql = (
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name, ordinal_position"
        )
        with self.read() as conn:
            found: dict[tuple[str, str], list[dict[str, str]]] = {}
            for schema, table, column, dtype in conn.execute(sql).fetchall():
                found.setdefault((schema, table), []).append({"name": column, "type": dtype})
        return [{"schema": s, "name": t, "columns": c} for (s, t), c in found.items()]


def _duckdb_message(exc: Exception) -> str:
    # DuckDB's first line says what is wrong ("Catalog Error: Table with name x does not
    # exist!"); the rest is a caret diagram meant for a terminal.
    return str(exc).splitlines()[0].strip()
