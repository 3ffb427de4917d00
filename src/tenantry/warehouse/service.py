"""Resolve an organization's warehouse and run guarded read-only queries against it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tenantry.core.config import Settings
from tenantry.tenancy.context import OrgContext
from tenantry.warehouse.duckdb_store import DuckDBWarehouse
from tenantry.warehouse.guard import guard


def warehouse_for(settings: Settings, org_id: str) -> DuckDBWarehouse:
    """The organization's warehouse. Keyed by id, not slug, so a rename moves nothing."""
    return DuckDBWarehouse(settings.data_dir.resolve() / "orgs" / org_id / "warehouse.duckdb")


async def describe(*, settings: Settings, ctx: OrgContext) -> dict[str, Any]:
    wh = warehouse_for(settings, ctx.org.id)
    tables = await asyncio.to_thread(wh.tables)
    return {"kind": "duckdb", "dialect": wh.dialect, "tables": tables}


async def query(
    *, settings: Settings, ctx: OrgContext, sql: str, limit: int | None = None
) -> dict[str, Any]:
    wh = warehouse_for(settings, ctx.org.id)
    max_rows = settings.warehouse_query_max_rows
    guarded = guard(sql, dialect=wh.dialect, limit=limit or min(1000, max_rows), max_limit=max_rows)
    began = time.perf_counter()
    result = await asyncio.to_thread(
        wh.query, guarded.sql, limit=guarded.limit, timeout=settings.warehouse_query_timeout_seconds
    )
    return {
        "columns": result.columns,
        "rows": result.rows,
        "row_count": len(result.rows),
        "truncated": result.truncated,
        "limit": guarded.limit,
        "sql": guarded.sql,
        "tables": list(guarded.tables),
        "elapsed_ms": round((time.perf_counter() - began) * 1000, 1),
    }
