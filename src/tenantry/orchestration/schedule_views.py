"""JSON API: schedules — CRUD, pause/resume, their fire history, and a preview for forms."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.orchestration import schedules
from tenantry.orchestration.schedule_schemas import (
    FiresPage,
    PreviewOut,
    ScheduleIn,
    ScheduleOut,
    SchedulePatch,
    SchedulesPage,
)
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["schedules"])
ONE = "/schedules/{schedule_id}"


@router.get("/schedules", response_model=SchedulesPage)
async def list_schedules(
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await schedules.list_schedules(session, ctx=ctx, params=params)
    items = [await schedules.view(session, s, fires=1) for s in rows]
    return make_page(items, total, params)


@router.get("/schedules/preview", response_model=PreviewOut)
async def preview(
    cron: str = Query(..., description="A cron expression, e.g. */15 * * * *"),
    timezone: str = Query("UTC", description="IANA time zone"),
    ctx: OrgContext = requires(P.DATA_READ),
):
    """The expression in words and its next five fire times (422 naming the field if invalid)."""
    return schedules.preview(cron, timezone)


@router.post("/schedules", status_code=201, response_model=ScheduleOut)
async def create(
    body: ScheduleIn,
    request: Request,
    ctx: OrgContext = requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """Run a pipeline, a transformation, or the DAG (whole, or from a node downstream) on a
    cron expression in a time zone."""
    grace = body.grace_seconds
    if grace is None:
        grace = request.app.state.settings.schedule_default_grace_seconds
    s = await schedules.create(
        session,
        ctx=ctx,
        name=body.name,
        cron_expr=body.cron,
        timezone=body.timezone,
        target_kind=body.target_kind,
        target_id=body.target_id,
        dag_node_kind=body.dag_node_kind,
        coalesce=body.coalesce,
        grace_seconds=grace,
        paused=body.paused,
    )
    return await schedules.view(session, s)


@router.get(ONE, response_model=ScheduleOut)
async def get(
    schedule_id: str, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    return await schedules.view(
        session, await schedules.get(session, ctx=ctx, schedule_id=schedule_id)
    )


@router.patch(ONE, response_model=ScheduleOut)
async def update(
    schedule_id: str,
    body: SchedulePatch,
    ctx: OrgContext = requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """Change the fields given. A new cron or time zone starts afresh (earlier fire times of
    the old one are not owed)."""
    sent = body.model_fields_set
    unset = schedules.UNSET
    s = await schedules.update(
        session,
        ctx=ctx,
        schedule_id=schedule_id,
        name=body.name,
        cron_expr=body.cron,
        timezone=body.timezone,
        target_kind=body.target_kind,
        target_id=body.target_id if "target_id" in sent else unset,
        dag_node_kind=body.dag_node_kind if "dag_node_kind" in sent else unset,
        coalesce=body.coalesce,
        grace_seconds=body.grace_seconds,
    )
    return await schedules.view(session, s)


@router.delete(ONE, status_code=204)
async def delete(
    schedule_id: str, ctx: OrgContext = requires(P.DATA_WRITE), session=Depends(db_session)
):
    await schedules.delete(session, ctx=ctx, schedule_id=schedule_id)


@router.post(ONE + "/pause", response_model=ScheduleOut)
async def pause(
    schedule_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)
):
    """Stop firing. Fire times while paused are not owed: nothing is recorded for them."""
    s = await schedules.set_paused(session, ctx=ctx, schedule_id=schedule_id, paused=True)
    return await schedules.view(session, s)


@router.post(ONE + "/resume", response_model=ScheduleOut)
async def resume(
    schedule_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)
):
    """Fire again, from the next fire time after now."""
    s = await schedules.set_paused(session, ctx=ctx, schedule_id=schedule_id, paused=False)
    return await schedules.view(session, s)


@router.get(ONE + "/fires", response_model=FiresPage)
async def fires(
    schedule_id: str,
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    """Every recorded fire time, newest first: fired (with its run), coalesced, missed (with
    how late) or failed (with why)."""
    rows, total = await schedules.list_fires(
        session, ctx=ctx, schedule_id=schedule_id, params=params
    )
    return make_page([schedules.fire_view(f) for f in rows], total, params)
