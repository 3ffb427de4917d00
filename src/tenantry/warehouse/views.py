"""JSON API: the organization's warehouse — what it holds, and read-only queries."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.warehouse import service
from tenantry.warehouse.schemas import QueryIn, QueryOut, WarehouseIn, WarehouseOut

router = APIRouter(prefix="/api/v1/orgs/{org}/warehouse", tags=["warehouse"])


@router.get("", response_model=WarehouseOut)
async def describe(
    request: Request, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    """The warehouse's kind and its schemas, tables and columns."""
    return await service.describe(session, settings=settings_of(request), ctx=ctx)


@router.put("", response_model=WarehouseOut)
async def set_location(
    body: WarehouseIn,
    request: Request,
    ctx: OrgContext = requires(P.ORG_UPDATE),
    session=Depends(db_session),
):
    """Use the organization's own database (a PostgreSQL or DuckDB destination connection) as
    its warehouse, or go back to the platform's (`connection_id: null`). Nothing is copied:
    pipelines load into the chosen one from their next run."""
    settings = settings_of(request)
    await service.use_connection(
        session, settings=settings, ctx=ctx, connection_id=body.connection_id
    )
    return await service.describe(session, settings=settings, ctx=ctx)


@router.post("/query", response_model=QueryOut)
async def query(
    body: QueryIn,
    request: Request,
    ctx: OrgContext = requires(P.DATA_READ),
    session=Depends(db_session),
):
    """Run one read-only SELECT against the organization's own warehouse, with a row limit.

    One row more than ``limit`` is fetched (see ``sql``) to tell whether the result was cut."""
    return await service.query(
        session, settings=settings_of(request), ctx=ctx, sql=body.sql, limit=body.limit
    )
