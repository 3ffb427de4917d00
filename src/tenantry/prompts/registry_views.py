"""JSON API: parts, the execution log with totals, and the registry's settings and quotas."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from tenantry.core.errors import ValidationFailed
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.prompts import executions, parts, quotas
from tenantry.prompts.schemas import PartIn, SettingsIn
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires
from tenantry.tenancy.permissions import Permission as P

parts_router = APIRouter(prefix="/api/v1/orgs/{org}/prompt-parts", tags=["prompts"])
log_router = APIRouter(prefix="/api/v1/orgs/{org}/prompt-executions", tags=["prompts"])
settings_router = APIRouter(prefix="/api/v1/orgs/{org}/prompt-settings", tags=["prompts"])


@parts_router.get("")
async def list_parts(
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await parts.list_parts(session, org_id=ctx.org.id, params=params)
    return make_page([parts.part_view(p) for p in rows], total, params)


@parts_router.post("", status_code=201)
async def create_part(
    body: PartIn, ctx: OrgContext = requires(P.PROMPTS_WRITE), session=Depends(db_session)
):
    """A new part (version 1); include it in prompts with {% include "name" %}."""
    if not body.name:
        raise ValidationFailed.field("name", "is required")
    if body.content is None:
        raise ValidationFailed.field("content", "is required")
    if await parts.exists(session, org_id=ctx.org.id, name=body.name):
        from tenantry.core.errors import Conflict

        raise Conflict(
            f"A part '{body.name}' already exists; save a new version with PUT …/prompt-parts/"
            f"{body.name}.",
            errors=[{"field": "name", "message": "is taken"}],
        )
    part, version, _ = await parts.save_part(
        session,
        ctx=ctx,
        name=body.name,
        content=body.content,
        description=body.description or "",
        message=body.message,
    )
    return jsonable_encoder(parts.part_view(part, version) | {"created": True})


@parts_router.get("/{part}")
async def get_part(
    part: str,
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    ctx: OrgContext = requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    found = await parts.find_part(session, org_id=ctx.org.id, ref=part)
    return parts.part_view(found, await parts.get_part_version(session, part=found, number=version))


@parts_router.put("/{part}")
async def save_part(
    part: str,
    body: PartIn,
    ctx: OrgContext = requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    """A new version of the part when its content changed. Prompt versions keep the part
    version they pinned; save a prompt again to pick this one up."""
    found = await parts.find_part(session, org_id=ctx.org.id, ref=part)
    if body.content is None:
        raise ValidationFailed.field("content", "is required")
    saved, version, created = await parts.save_part(
        session,
        ctx=ctx,
        name=found.name,
        content=body.content,
        description=body.description,
        message=body.message,
    )
    return JSONResponse(
        jsonable_encoder(parts.part_view(saved, version) | {"created": created}),
        status_code=201 if created else 200,
    )


@parts_router.get("/{part}/versions")
async def part_versions(
    part: str,
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    found = await parts.find_part(session, org_id=ctx.org.id, ref=part)
    rows, total = await parts.list_part_versions(session, part=found, params=params)
    items = [
        {
            "version": v.number,
            "message": v.message,
            "author": v.author,
            "created_at": v.created_at,
            "content": v.content,
        }
        for v in rows
    ]
    return make_page(items, total, params)


@parts_router.delete("/{part}", status_code=204)
async def delete_part(
    part: str, ctx: OrgContext = requires(P.PROMPTS_WRITE), session=Depends(db_session)
):
    """Refused (409) while any prompt version pins the part."""
    await parts.delete_part(session, ctx=ctx, ref=part)


# --- executions --------------------------------------------------------------------------------


async def _filters(
    session,
    ctx: OrgContext,
    prompt: str | None,
    version: int | None,
    model: str | None,
    status: str | None,
    since: datetime | date | None,
    until: datetime | date | None,
) -> dict:
    return {
        "prompt_id": await executions.prompt_id_of(session, org_id=ctx.org.id, ref=prompt),
        "version": version,
        "model": model,
        "status": status,
        "since": since,
        "until": until,
    }


@log_router.get("")
async def list_executions(
    prompt: str | None = Query(None, description="A prompt's slug or id"),
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    model: str | None = None,
    status: str | None = Query(None, description="succeeded or failed"),
    since: datetime | date | None = Query(None, description="From this date or time (UTC)"),
    until: datetime | date | None = Query(None, description="Up to this date (inclusive) or time"),
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    """Executions, newest first, with filters; `totals` sums the same selection."""
    f = await _filters(session, ctx, prompt, version, model, status, since, until)
    rows, total = await executions.list_executions(session, org_id=ctx.org.id, params=params, **f)
    return make_page([executions.execution_view(e) for e in rows], total, params)


@log_router.get("/totals")
async def execution_totals(
    by: str = Query("prompt", description="prompt, day or model"),
    prompt: str | None = None,
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    model: str | None = None,
    status: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    ctx: OrgContext = requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """Executions, tokens and cost per prompt, per day (UTC) or per model, and in total."""
    f = await _filters(session, ctx, prompt, version, model, status, since, until)
    return await executions.totals(session, org_id=ctx.org.id, by=by, **f)


@log_router.get("/{execution_id}")
async def get_execution(
    execution_id: str, ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)
):
    return executions.execution_view(
        await executions.get_execution(session, org_id=ctx.org.id, execution_id=execution_id)
    )


# --- settings and quotas -----------------------------------------------------------------------


@settings_router.get("")
async def get_settings(ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)):
    """Quotas, protected labels, input storage and retention — and this month's usage."""
    row = await quotas.settings_row(session, ctx.org.id)
    return quotas.settings_view(row) | {"usage": await quotas.usage(session, org_id=ctx.org.id)}


@settings_router.put("")
async def put_settings(
    body: SettingsIn, ctx: OrgContext = requires(P.PROMPTS_ADMIN), session=Depends(db_session)
):
    """Change what is sent; fields left out keep their value, null clears a limit."""
    row = await quotas.update_settings(session, ctx=ctx, data=body.model_dump(exclude_unset=True))
    return quotas.settings_view(row) | {"usage": await quotas.usage(session, org_id=ctx.org.id)}
