"""JSON API: an organization's pipelines — CRUD, and Run now."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.orchestration import service as runs
from tenantry.orchestration.schemas import RunOut
from tenantry.pipelines import service
from tenantry.pipelines.schemas import PipelineIn, PipelineOut, PipelinePatch, PipelinesPage
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["pipelines"])
ONE = "/pipelines/{pipeline_id}"


@router.get("/pipelines", response_model=PipelinesPage)
async def list_pipelines(
    deleted: bool = Query(False, description="List deleted pipelines"),
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_pipelines(session, ctx=ctx, params=params, deleted=deleted)
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[p.id for p in rows])
    return make_page([service.view(p, last_run=last.get(p.id)) for p in rows], total, params)


@router.post("/pipelines", status_code=201, response_model=PipelineOut)
async def create(
    body: PipelineIn, ctx: OrgContext = requires(P.DATA_WRITE), session=Depends(db_session)
):
    """Create a pipeline: a source connection, a destination (empty: the organization's
    warehouse) and a spec (mode, write disposition, schema contract, filters …)."""
    p = await service.create(
        session,
        ctx=ctx,
        name=body.name,
        description=body.description,
        source_id=body.source_id,
        destination_id=body.destination_id,
        spec=body.spec.model_dump(mode="json"),
    )
    return service.view(p)


@router.get(ONE, response_model=PipelineOut)
async def get(
    pipeline_id: str, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    p = await service.get(session, ctx=ctx, pipeline_id=pipeline_id)
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[p.id])
    return service.view(p, last_run=last.get(p.id))


@router.patch(ONE, response_model=PipelineOut)
async def update(
    pipeline_id: str,
    body: PipelinePatch,
    ctx: OrgContext = requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """Change a pipeline; `spec` fields given are merged over the saved spec, which is then
    validated whole. `destination_id: ""` sets the destination back to the warehouse."""
    p = await service.update(
        session,
        ctx=ctx,
        pipeline_id=pipeline_id,
        name=body.name,
        description=body.description,
        destination_id=body.destination_id or None,
        clear_destination=body.destination_id == "",
        spec=body.spec,
    )
    return service.view(p)


@router.delete(ONE, status_code=204)
async def delete(
    pipeline_id: str, ctx: OrgContext = requires(P.DATA_WRITE), session=Depends(db_session)
):
    await service.delete(session, ctx=ctx, pipeline_id=pipeline_id)


@router.post(ONE + "/run", status_code=202, response_model=RunOut)
async def run_now(
    pipeline_id: str,
    request: Request,
    wait: float = Query(0, ge=0, le=300, description="Seconds to wait for the run to finish"),
    ctx: OrgContext = requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """Queue a run (trigger `api`, or `manual` from the UI); answers at once with the queued
    run, or after it finished when `wait` is given and it finished in time."""
    trigger = "api" if ctx.caller.actor_type == "api_key" else "manual"
    run = await service.start_run(session, ctx=ctx, pipeline_id=pipeline_id, trigger=trigger)
    deadline = asyncio.get_running_loop().time() + wait
    while wait and not run.finished and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.25)
        await session.refresh(run)
    return runs.view(run)
