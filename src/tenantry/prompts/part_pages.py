"""HTML: parts — reusable snippets prompts include by name — with their version history. The
routes hang under ``pages.router`` (same ``/o/{org}`` prefix), before ``/prompts/{prompt}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.prompts import parts
from tenantry.prompts.exec_pages import BASE, base
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect

router = APIRouter(include_in_schema=False)


async def _parts_page(request, session, ctx, params, *, errors=None, values=None, status=200):
    rows, total = await parts.list_parts(session, org_id=ctx.org.id, params=params)
    context = {
        "page": make_page([parts.part_view(p) for p in rows], total, params),
        "errors": errors or {},
        "values": values or {},
    }
    return await org_render(request, session, ctx, "prompt_parts.html", context, status)


@router.get(BASE + "/parts")
async def parts_page(
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    return await _parts_page(request, session, ctx, params)


def _part_values(form: FormData) -> dict[str, str]:
    return {k: str(form.get(k, "") or "") for k in ("name", "description", "content", "message")}


@router.post(BASE + "/parts")
async def create_part(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    values = _part_values(form)
    name = values["name"].strip()
    try:
        if await parts.exists(session, org_id=ctx.org.id, name=name):
            raise ValidationFailed.field("name", f"a part '{name}' exists already; open it")
        part, version, _ = await parts.save_part(
            session,
            ctx=ctx,
            name=name,
            content=values["content"],
            description=values["description"],
            message=values["message"],
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        return await _parts_page(
            request, session, ctx, PageParams(), errors=errors, values=values, status=exc.status
        )
    to = f"{base(ctx)}/parts/{part.name}"
    return redirect(to, request, f"Created part {part.name} (version {version.number}).")


async def _part_page(request, session, ctx, ref, params, *, errors=None, values=None, status=200):
    part = await parts.find_part(session, org_id=ctx.org.id, ref=ref)
    try:
        shown = int(request.query_params.get("version", "") or part.latest_version)
    except ValueError:
        shown = part.latest_version
    version = await parts.get_part_version(session, part=part, number=shown)
    rows, total = await parts.list_part_versions(session, part=part, params=params)
    context = {
        "part": parts.part_view(part, version),
        "history": make_page(
            [
                {"version": v.number, "message": v.message, "author": v.author}
                | {"created_at": v.created_at}
                for v in rows
            ],
            total,
            params,
        ),
        "errors": errors or {},
        "values": values or {"content": version.content, "description": part.description},
    }
    return await org_render(request, session, ctx, "prompt_part.html", context, status)


@router.get(BASE + "/parts/{part}")
async def part_page(
    part: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    return await _part_page(request, session, ctx, part, params)


@router.post(BASE + "/parts/{part}")
async def save_part(
    part: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    found = await parts.find_part(session, org_id=ctx.org.id, ref=part)
    values = _part_values(form)
    try:
        _, version, created = await parts.save_part(
            session,
            ctx=ctx,
            name=found.name,
            content=values["content"],
            description=values["description"],
            message=values["message"],
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        return await _part_page(
            request, session, ctx, part, PageParams(), errors=errors, values=values, status=422
        )
    message = (
        f"Saved version {version.number}. Prompts pick it up when they are saved again."
        if created
        else f"No changes; the part is still version {version.number}."
    )
    return redirect(f"{base(ctx)}/parts/{found.name}", request, message)


@router.post(BASE + "/parts/{part}/delete")
async def delete_part(
    part: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    found = await parts.find_part(session, org_id=ctx.org.id, ref=part)
    name = found.name  # a rollback expires the row
    try:
        await parts.delete_part(session, ctx=ctx, ref=found.id)
    except TenantryError as exc:
        await session.rollback()
        return redirect(f"{base(ctx)}/parts/{name}", request, exc.detail, "error")
    return redirect(f"{base(ctx)}/parts", request, f"Deleted part {name}.")
