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
from tenantry.web.render import register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("warehouse", "Warehouse", "/warehouse", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)


async def _page(request, session, ctx, extra=None, status=200):
    try:
        info = await service.describe(session, settings=settings_of(request), ctx=ctx)
    except TenantryError as exc:  # an unreachable warehouse still shows the page, with why
        info = {"kind": "?", "tables": [], "error": exc.detail}
    return await org_render(
        request, session, ctx, "warehouse.html", {"wh": info, **(extra or {})}, status
    )


@router.get("/warehouse")
async def warehouse_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    return await _page(request, session, ctx)


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
