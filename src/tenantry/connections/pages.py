"""HTML: the organization's connections — list, create and edit forms from each kind's schema,
a Test button with the result inline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.connections import service
from tenantry.connections.forms import config_from_form, form_fields
from tenantry.connections.kinds import KINDS, get_kind
from tenantry.core.errors import TenantryError
from tenantry.core.pagination import PageParams
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("connections", "Connections", "/connections", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/connections", include_in_schema=False)


def _errors(exc: TenantryError) -> dict[str, str]:
    """Field errors keyed by form field ("config.port" → "port")."""
    if not exc.errors:
        return {"_form": exc.detail}
    return {e["field"].removeprefix("config."): e["message"] for e in exc.errors}


async def _form(request, session, ctx, kind, conn=None, values=None, extra=None, status=200):
    k = get_kind(kind)
    return await org_render(
        request,
        session,
        ctx,
        "connection_form.html",
        {
            "kind": k,
            "fields": form_fields(k.config),
            "conn": conn,
            "values": values if values is not None else (conn or {}).get("config", {}),
            **(extra or {}),
        },
        status,
    )


@router.get("")
async def list_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    rows, total = await service.list_connections(
        session, ctx=ctx, params=PageParams(size=200), kind=None
    )
    return await org_render(
        request,
        session,
        ctx,
        "connections.html",
        {"connections": [service.view(c) for c in rows], "kinds": KINDS.values()},
    )


@router.get("/new")
async def new_page(
    request: Request,
    kind: str = "postgres",
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    return await _form(request, session, ctx, kind, values={})


@router.post("/new")
async def create(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    kind = get_kind(str(form.get("kind", "")))
    config = config_from_form(kind.config, form)
    name = str(form.get("name", ""))
    try:
        conn = await service.create(
            session,
            ctx=ctx,
            settings=settings_of(request),
            name=name,
            kind=kind.name,
            config=config,
            description=str(form.get("description", "")),
        )
    except TenantryError as exc:
        await session.rollback()
        return await _form(
            request,
            session,
            ctx,
            kind.name,
            values=config,
            extra={"errors": _errors(exc), "name": name},
            status=exc.status,
        )
    return redirect(
        f"/o/{ctx.org.slug}/connections/{conn.id}", request, f"Created {conn.name}. Test it below."
    )


@router.get("/{connection_id}")
async def edit_page(
    connection_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    conn = service.view(await service.get(session, ctx=ctx, connection_id=connection_id))
    return await _form(request, session, ctx, conn["kind"], conn=conn)


@router.post("/{connection_id}")
async def update(
    connection_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    current = await service.get(session, ctx=ctx, connection_id=connection_id)
    kind = get_kind(current.kind)
    config = config_from_form(kind.config, form)
    try:
        conn = await service.update(
            session,
            ctx=ctx,
            settings=settings_of(request),
            connection_id=connection_id,
            name=str(form.get("name", "")),
            config=config,
            description=str(form.get("description", "")),
        )
    except TenantryError as exc:
        await session.rollback()
        view = service.view(await service.get(session, ctx=ctx, connection_id=connection_id))
        return await _form(
            request,
            session,
            ctx,
            view["kind"],
            conn=view,
            values={**view["config"], **config},
            extra={"errors": _errors(exc)},
            status=exc.status,
        )
    return redirect(f"/o/{ctx.org.slug}/connections/{conn.id}", request, "Saved.")


@router.post("/{connection_id}/test")
async def test(
    connection_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    result = await service.test_saved(
        session, ctx=ctx, settings=settings_of(request), connection_id=connection_id
    )
    conn = service.view(await service.get(session, ctx=ctx, connection_id=connection_id))
    return await _form(request, session, ctx, conn["kind"], conn=conn, extra={"test": result})


@router.post("/{connection_id}/delete")
async def delete(
    connection_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    await service.delete(session, ctx=ctx, connection_id=connection_id)
    return redirect(
        f"/o/{ctx.org.slug}/connections",
        request,
        "Connection deleted; an admin can restore it through the API.",
    )
