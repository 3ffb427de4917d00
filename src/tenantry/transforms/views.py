"""JSON API: transformations (CRUD, validate, compile, preview, run, test) and sources."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.orchestration import service as runs
from tenantry.orchestration.schemas import RunOut
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.transforms import preview, service
from tenantry.transforms.schemas import (
    PreviewRequest,
    RunRequest,
    SourceSettings,
    TransformIn,
    TransformOut,
    TransformPage,
    TransformPatch,
)

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["transformations"])
ONE = "/transformations/{transform_id}"


class CompileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str | None = Field(default=None, description="Unsaved SQL to compile instead")


class ValidateRequest(TransformIn):
    id: str | None = Field(default=None, description="The transformation being edited, if any")


@router.get("/transformations", response_model=TransformPage)
async def list_transformations(
    q: str | None = Query(None, max_length=100, description="Name contains"),
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_transformations(session, ctx=ctx, params=params, q=q)
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[t.id for t in rows])
    return make_page([service.view(t, last_run=last.get(t.id)) for t in rows], total, params)


@router.post("/transformations", status_code=201, response_model=TransformOut)
async def create(
    body: TransformIn,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Create a dbt model or snapshot. The SQL must parse, its ref()s and source()s must
    exist and it must not close a cycle; errors name the model and the line."""
    t = await service.create(session, settings=settings, ctx=ctx, data=body)
    return service.view(t)


@router.post("/transformations/validate")
async def validate(
    body: ValidateRequest,
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Check a transformation without saving it (the editor calls this as you type)."""
    parsed = await service.check(
        session, settings, ctx, name=body.name, sql=body.sql, spec=body.spec, exclude=body.id
    )
    return {
        "valid": True,
        "refs": parsed.refs,
        "sources": [f"{d}.{n}" for d, n in parsed.sources],
        "sql_checked": parsed.sql_checked,
    }


@router.post("/transformations/run", status_code=202, response_model=RunOut)
async def run_project(
    body: RunRequest, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)
):
    """A dbt command over the whole project or a selection, as a run."""
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await service.start_run(
        session, ctx=ctx, command=body.command, select=body.select, trigger=trigger
    )
    return runs.view(run)


@router.get(ONE, response_model=TransformOut)
async def get(
    transform_id: str, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[t.id])
    return service.view(t, last_run=last.get(t.id))


@router.patch(ONE, response_model=TransformOut)
async def update(
    transform_id: str,
    body: TransformPatch,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    t = await service.update(
        session, settings=settings, ctx=ctx, transform_id=transform_id, patch=body
    )
    return service.view(t)


@router.delete(ONE, status_code=204)
async def delete(
    transform_id: str, ctx: OrgContext = requires(P.DATA_WRITE), session=Depends(db_session)
):
    await service.delete(session, ctx=ctx, transform_id=transform_id)


@router.post(ONE + "/compile")
async def compile_(
    transform_id: str,
    body: CompileRequest,
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """The SQL dbt would run (refs and sources resolved to this warehouse's tables)."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    return await preview.compile_sql(session, settings=settings, ctx=ctx, transform=t, sql=body.sql)


@router.post(ONE + "/preview")
async def preview_rows(
    transform_id: str,
    body: PreviewRequest,
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """The first rows the model would hold, read through the warehouse's read-only guard."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    return await preview.preview(
        session, settings=settings, ctx=ctx, transform=t, sql=body.sql, limit=body.limit
    )


@router.post(ONE + "/run", status_code=202, response_model=RunOut)
async def run_one(
    transform_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)
):
    """Build this transformation (run it, then its tests)."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await service.start_run(session, ctx=ctx, transform=t, trigger=trigger)
    return runs.view(run)


@router.post(ONE + "/test", status_code=202, response_model=RunOut)
async def test_one(
    transform_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)
):
    """Run this transformation's tests only."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await service.start_run(session, ctx=ctx, command="test", transform=t, trigger=trigger)
    return runs.view(run)


@router.get("/sources")
async def list_sources(
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Tables the warehouse holds that models can read with source(dataset, table)."""
    return {"items": await service.sources(session, settings=settings, ctx=ctx)}


@router.put("/sources/{dataset}/{table}")
async def set_source(
    dataset: str,
    table: str,
    body: SourceSettings,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """A source's description and freshness thresholds (warn/error after)."""
    return await service.set_source(
        session, settings=settings, ctx=ctx, dataset=dataset, table=table, data=body
    )


@router.post("/sources/freshness", status_code=202, response_model=RunOut)
async def check_freshness(ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)):
    """`dbt source freshness` as a run: pass, warn or error per source table."""
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await service.start_run(session, ctx=ctx, command="freshness", trigger=trigger)
    return runs.view(run)
