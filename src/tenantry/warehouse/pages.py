"""HTML: the organization's warehouse — its tables, and a read-only SQL box."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.warehouse import service
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("warehouse", "Warehouse", "/warehouse", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)


async def _page(request, session, ctx, extra=None, status=200):
    try:
        info = await service.describe(session, settings=settings_of(request), ctx=ctx)
    except TenantryError as exc:  # an unreachable warehouse still shows the page, with why
        info = {"kind": "?", "tables": [], "error": exc.detail}
    own = []
    if ctx.can(P.ORG_UPDATE):
        from tenantry.connections import service as connections
        from tenantry.core.pagination import PageParams

        rows, _ = await connections.list_connections(
            session, ctx=ctx, params=PageParams(size=200), kind=None
        )
        own = [
            {"id": c.id, "name": c.name, "kind": c.kind}
            for c in rows
            if c.kind in service.OWN_KINDS
        ]
    return await org_render(
        request, session, ctx, "warehouse.html", {"wh": info, "own": own, **(extra or {})}, status
    )


@router.get("/warehouse")
async def warehouse_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    return await _page(request, session, ctx)


@router.post("/warehouse/location")
async def set_location(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_UPDATE),
    session=Depends(db_session),
):
    choice = str(form.get("connection_id", "")) or None
    try:
        await service.use_connection(
            session, settings=settings_of(request), ctx=ctx, connection_id=choice
        )
    except TenantryError as exc:
        await session.rollback()
        return await _page(request, session, ctx, {"location_error": exc.detail}, exc.status)
    message = "The warehouse is now " + ("your own database." if choice else "the platform's.")
    return redirect(f"/o/{ctx.org.slug}/warehouse", request, message + " Nothing was copied.")


@router.post("/warehouse")
async def run_query(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    sql = str(form.get("sql", ""))
    try:
        result = await service.query(
            session, settings=settings_of(request), ctx=ctx, sql=sql, limit=200
        )
    except TenantryError as exc:
        return await _page(
            request, session, ctx, {"errors": errors_of(exc), "sql": sql}, exc.status
        )
    return await _page(request, session, ctx, {"result": result, "sql": sql})
