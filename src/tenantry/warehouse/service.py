"""Resolve an organization's warehouse and run guarded read-only queries against it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.errors import ConfigurationError, TenantryError, ValidationFailed
from tenantry.tenancy import service as tenancy
from tenantry.tenancy.context import OrgContext
from tenantry.warehouse import postgres_store
from tenantry.warehouse.duckdb_store import SCHEMAS, DuckDBWarehouse
from tenantry.warehouse.guard import guard
from tenantry.warehouse.models import Warehouse
from tenantry.warehouse.postgres_store import PostgresWarehouse

Store = DuckDBWarehouse | PostgresWarehouse


def duckdb_path(settings: Settings, org_id: str) -> Path:
    """Keyed by id, not slug, so renaming an organization moves nothing."""
    return settings.data_dir.resolve() / "orgs" / org_id / "warehouse.duckdb"


def _postgres_url(settings: Settings) -> str:
    if not settings.warehouse_postgres_url:
        raise ConfigurationError(
            "This organization's warehouse is on PostgreSQL, but TENANTRY_WAREHOUSE_POSTGRES_URL "
            "is not set; set it to the warehouse server's admin URL."
        )
    return settings.warehouse_postgres_url


async def _record(session: AsyncSession, settings: Settings, org) -> Warehouse:
    """First use: choose the kind (the operator's default) and provision it, exactly once."""
    await tenancy.lock_org(session, org.id)  # serializes this across requests and replicas
    row = await session.scalar(sa.select(Warehouse).where(Warehouse.org_id == org.id))
    if row is None:
        kind = settings.warehouse_kind
        config: dict[str, Any] = {}
        if kind == "postgres":
            config = await postgres_store.provision(
                _postgres_url(settings), org_id=org.id, slug=org.slug
            )
        row = Warehouse(org_id=org.id, kind=kind, config=config)
        session.add(row)
    await session.commit()
    return row


async def _row(session: AsyncSession, settings: Settings, org) -> Warehouse:
    row = await session.scalar(sa.select(Warehouse).where(Warehouse.org_id == org.id))
    return row if row is not None else await _record(session, settings, org)


OWN_SCHEMAS = {kind: kind for kind in SCHEMAS}  # in an organization's own database


async def _own_connection(session: AsyncSession, settings: Settings, row: Warehouse):
    """The organization's own database: (kind, full config) of its destination connection."""
    from tenantry.connections import service as connections
    from tenantry.connections.models import Connection

    conn = await session.scalar(
        sa.select(Connection).where(
            Connection.id == row.connection_id, Connection.org_id == row.org_id
        )
    )
    if conn is None or conn.deleted_at is not None:
        raise ConfigurationError(
            "This organization's warehouse is set to a connection that was deleted; "
            "restore it or choose another warehouse in Settings."
        )
    return conn.kind, connections.full_config(conn)


def _own_postgres_url(settings: Settings, config) -> tuple[str, dict[str, Any]]:
    from urllib.parse import quote

    from tenantry.connections.netguard import resolve_allowed

    host = resolve_allowed(config.host, config.port, allowed=settings.allowed_private_networks)
    url = f"postgresql://{host}:{config.port}/{quote(config.database)}"
    password = config.password.get_secret_value() if config.password else ""
    return url, {"role": config.user, "password": password, "schemas": OWN_SCHEMAS}


async def open_warehouse(session: AsyncSession, settings: Settings, org) -> Store:
    row = await _row(session, settings, org)
    if row.kind == "duckdb":
        return DuckDBWarehouse(duckdb_path(settings, org.id))
    if row.kind == "postgres":
        return PostgresWarehouse(_postgres_url(settings), row.config)
    kind, config = await _own_connection(session, settings, row)
    if kind == "duckdb":
        from tenantry.connections.storage import inside, org_files

        return DuckDBWarehouse(inside(org_files(settings, org.id), config.path))
    url, pg = _own_postgres_url(settings, config)
    return PostgresWarehouse(url, pg)


@dataclass(frozen=True)
class LoadTarget:
    """Where pipelines load for an organization: enough to build a dlt destination."""

    kind: str  # duckdb | postgres
    label: str
    datasets: dict[str, str]  # raw/staging/marts → the physical schema
    path: Path | None = None  # duckdb: the file …
    lock_path: Path | None = None  # … and its writer lock
    credentials: dict[str, Any] | None = None  # postgres: host, port, username, password, database


async def load_target(session: AsyncSession, settings: Settings, org) -> LoadTarget:
    store = await open_warehouse(session, settings, org)
    if isinstance(store, DuckDBWarehouse):
        await asyncio.to_thread(store.ensure)  # creates the file and its raw/staging/marts
        return LoadTarget(
            kind="duckdb",
            label="the organization's warehouse (DuckDB)",
            datasets={k: k for k in SCHEMAS},
            path=store.path,
            lock_path=store.lock_path,
        )
    args = postgres_store.connect_args(store.admin_url)
    return LoadTarget(
        kind="postgres",
        label="the organization's warehouse (PostgreSQL)",
        datasets=dict(store.schemas),
        credentials={
            "host": args["host"],
            "port": args["port"],
            "username": store.role,
            "password": store.password,
            "database": args["database"],
        },
    )


PLATFORM_TABLE_PREFIX = "tny_pa_"  # pre-aggregations: the semantic layer's, not the tenant's data


async def _tables(store: Store) -> list[dict[str, Any]]:
    if isinstance(store, DuckDBWarehouse):
        found = await asyncio.to_thread(store.tables)
    else:
        found = await store.tables()
    return [t for t in found if not t["name"].startswith(PLATFORM_TABLE_PREFIX)]


async def loaded_tables(session: AsyncSession, settings: Settings, org) -> list[dict[str, Any]]:
    """The warehouse's tables with the dataset (raw/staging/marts) each sits in."""
    store = await open_warehouse(session, settings, org)
    if isinstance(store, DuckDBWarehouse):
        await asyncio.to_thread(store.ensure)
        datasets = {k: k for k in SCHEMAS}
    else:
        datasets = dict(store.schemas)
    dataset_of = {physical: key for key, physical in datasets.items()}
    out = []
    for table in await _tables(store):
        if table["schema"] in dataset_of:
            out.append(table | {"dataset": dataset_of[table["schema"]]})
    return out


OWN_KINDS = ("postgres", "duckdb")  # an organization's own database: tested here


async def use_connection(
    session: AsyncSession, *, settings: Settings, ctx: OrgContext, connection_id: str | None
) -> Warehouse:
    """Point the organization's warehouse at a destination connection of its own (``None``:
    back to the platform's). It is opened first: a warehouse that cannot be reached is refused.
    Data is not moved; pipelines load into the new one from their next run."""
    from tenantry.connections.models import Connection
    from tenantry.tenancy import audit

    row = await _row(session, settings, ctx.org)
    before = {"kind": row.kind, "connection_id": row.connection_id}
    if connection_id:
        conn = await session.scalar(
            sa.select(Connection).where(
                Connection.id == connection_id,
                Connection.org_id == ctx.org.id,
                Connection.deleted_at.is_(None),
            )
        )
        if conn is None:
            raise ValidationFailed.field(
                "connection_id", f"there is no connection '{connection_id}' in this organization"
            )
        if conn.kind not in OWN_KINDS:
            raise ValidationFailed.field(
                "connection_id",
                f"a {conn.kind} connection cannot hold the warehouse; use PostgreSQL or DuckDB",
            )
        if row.kind != "connection":
            row.config = {"managed": {"kind": row.kind, "config": row.config}}
        row.kind, row.connection_id = "connection", conn.id
    elif row.kind == "connection":
        managed = (row.config or {}).get("managed")
        if managed:
            row.kind, row.config = managed["kind"], managed["config"]
        else:
            row.kind, row.config = settings.warehouse_kind, {}
        row.connection_id = None
    store = await open_warehouse(session, settings, ctx.org)
    try:
        await _tables(store)
        if isinstance(store, PostgresWarehouse):
            await store.ensure_schemas()
    except TenantryError:
        raise
    except Exception as exc:
        raise ValidationFailed.field(
            "connection_id", f"the warehouse could not be opened: {str(exc).splitlines()[0]}"
        ) from None
    after = {"kind": row.kind, "connection_id": row.connection_id}
    audit.log(session, ctx, "warehouse.update", "warehouse", row.id, before=before, after=after)
    await session.commit()
    return row


async def describe(session: AsyncSession, *, settings: Settings, ctx: OrgContext) -> dict:
    row = await _row(session, settings, ctx.org)
    store = await open_warehouse(session, settings, ctx.org)
    kind = "duckdb" if isinstance(store, DuckDBWarehouse) else "postgres"
    info: dict[str, Any] = {
        "kind": kind,
        "dialect": store.dialect,
        "tables": await _tables(store),
        "connection_id": row.connection_id,
    }
    if isinstance(store, PostgresWarehouse):
        info["schemas"] = store.schemas
    return info


async def read(store: Store, sql: str, *, limit: int, timeout: float):
    """Run SQL on a read-only connection of ``store`` (user SQL goes through ``guard`` first)."""
    if isinstance(store, DuckDBWarehouse):
        return await asyncio.to_thread(store.query, sql, limit=limit, timeout=timeout)
    return await store.query(sql, limit=limit, timeout=timeout)


async def query(
    session: AsyncSession,
    *,
    settings: Settings,
    ctx: OrgContext,
    sql: str,
    limit: int | None = None,
) -> dict[str, Any]:
    max_rows = settings.warehouse_query_max_rows
    limit = limit or min(1000, max_rows)
    if not 1 <= limit <= max_rows:
        raise ValidationFailed.field("limit", f"must be between 1 and {max_rows}")
    store = await open_warehouse(session, settings, ctx.org)
    # One row more than asked for tells whether the result was cut.
    schemas = SCHEMAS if isinstance(store, DuckDBWarehouse) else store.schemas.values()
    guarded = guard(
        sql, dialect=store.dialect, limit=limit + 1, max_limit=max_rows + 1, schemas=schemas
    )
    timeout = settings.warehouse_query_timeout_seconds
    began = time.perf_counter()
    result = await read(store, guarded.sql, limit=limit, timeout=timeout)
    return {
        "columns": result.columns,
        "rows": result.rows,
        "row_count": len(result.rows),
        "truncated": result.truncated,
        "limit": limit,
        "sql": guarded.sql,
        "tables": list(guarded.tables),
        "elapsed_ms": round((time.perf_counter() - began) * 1000, 1),
    }
