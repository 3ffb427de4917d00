"""JSON API: runs — list with filters, detail, logs (paged and streamed), cancel, retry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.orchestration import service
from tenantry.orchestration.models import Run
from tenantry.orchestration.schemas import LogsOut, RunOut, RunsPage
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["runs"])
ONE = "/runs/{run_id}"
POLL_SECONDS = 0.5


@router.get("/runs", response_model=RunsPage)
async def list_runs(
    status: str | None = Query(
        None, description="queued, running, succeeded, failed, cancelled, skipped"
    ),
    kind: str | None = Query(None, description="e.g. pipeline"),
    target_id: str | None = Query(None, description="The pipeline (or other target) id"),
    since: datetime | None = Query(None, description="Created at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="Created before (ISO 8601)"),
    parent_id: str | None = Query(None, description="The node runs of this DAG run"),
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_runs(
        session,
        ctx=ctx,
        params=params,
        status=status,
        kind=kind,
        target_id=target_id,
        since=since,
        until=until,
        parent_id=parent_id,
    )
    return make_page([service.view(r) for r in rows], total, params)


@router.get(ONE, response_model=RunOut)
async def get(run_id: str, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)):
    return service.view(await service.get(session, ctx=ctx, run_id=run_id))


@router.get(ONE + "/logs", response_model=LogsOut)
async def logs(
    run_id: str,
    after: int = Query(0, ge=0, description="Only lines after this sequence number"),
    limit: int = Query(1000, ge=1, le=5000),
    ctx: OrgContext = requires(P.DATA_READ),
    session=Depends(db_session),
):
    run = await service.get(session, ctx=ctx, run_id=run_id)
    lines = await service.logs(session, org_id=ctx.org.id, run_id=run.id, after=after, limit=limit)
    return {
        "run_id": run.id,
        "status": run.status,
        "lines": [service.log_view(line) for line in lines],
        "next_after": lines[-1].seq if lines else after,
    }


def _event(kind: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def log_stream(request: Request, org_id: str, run_id: str, after: int) -> StreamingResponse:
    """A run's log as server-sent events; resumes after ``Last-Event-ID`` when the client
    reconnects with one."""
    last = request.headers.get("last-event-id")
    start = int(last) if last and last.isdigit() else after
    return StreamingResponse(
        follow(request.app.state.db, org_id, run_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def follow(db, org_id: str, run_id: str, after: int) -> AsyncIterator[str]:
    """Log lines as they are written, then one ``end`` event with the final status."""
    idle = 0.0
    status = None
    while True:
        async with db.session() as session:
            lines = await service.logs(session, org_id=org_id, run_id=run_id, after=after)
            run = await session.get(Run, run_id)
        for line in lines:
            after = line.seq
            yield _event("log", service.log_view(line), line.seq)
        if run.status != status:
            status = run.status
            yield _event("status", {"status": status})
        if run.finished and not lines:
            yield _event("end", service.view(run))
            return
        idle = 0.0 if lines else idle + POLL_SECONDS
        if idle >= 15:  # keep proxies from closing a quiet stream
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)


@router.get(
    ONE + "/logs/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_logs(
    run_id: str,
    request: Request,
    after: int = Query(0, ge=0),
    ctx: OrgContext = requires(P.DATA_READ),
    session=Depends(db_session),
):
    """Server-sent events: `log` per line (id = its sequence number, so a reconnecting client
    resumes with Last-Event-ID), `status` on each change, and `end` with the finished run."""
    run = await service.get(session, ctx=ctx, run_id=run_id)
    await session.close()  # the stream polls with sessions of its own
    return log_stream(request, ctx.org.id, run.id, after)


@router.post(ONE + "/cancel", response_model=RunOut)
async def cancel(run_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)):
    """Queued: cancelled at once. Running: stops at the next batch, loading nothing partial."""
    return service.view(await service.cancel(session, ctx=ctx, run_id=run_id))


@router.post(ONE + "/retry", status_code=202, response_model=RunOut)
async def retry(run_id: str, ctx: OrgContext = requires(P.DATA_RUN), session=Depends(db_session)):
    """A new attempt of a failed or cancelled run (whatever its error class)."""
    return service.view(await service.retry(session, ctx=ctx, run_id=run_id))
