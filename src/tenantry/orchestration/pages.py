"""HTML: runs — the list with filters, and a run's page with its live log, per-table rows,
Cancel and Retry."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData

from tenantry.core.errors import Conflict
from tenantry.core.pagination import PageParams, make_page
from tenantry.orchestration import service
from tenantry.orchestration.models import STATUSES
from tenantry.orchestration.views import log_stream
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("runs", "Runs", "/runs", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/runs", include_in_schema=False)


@router.get("")
async def list_page(
    request: Request,
    status: str = Query(""),
    kind: str = Query(""),
    target_id: str = Query(""),
    page: int = Query(1, ge=1),
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    params = PageParams(page=page, size=50)
    rows, total = await service.list_runs(
        session,
        ctx=ctx,
        params=params,
        status=status if status in STATUSES else None,
        kind=kind or None,
        target_id=target_id or None,
    )
    query = "".join(
        f"{k}={v}&" for k, v in (("status", status), ("kind", kind), ("target_id", target_id)) if v
    )
    return await org_render(
        request,
        session,
        ctx,
        "runs.html",
        {
            "runs": [service.view(r) for r in rows],
            "page": make_page([], total, params),
            "status": status,
            "statuses": STATUSES,
            "base_query": query,
        },
    )


@router.get("/{run_id}")
async def run_page(
    run_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    run = await service.get(session, ctx=ctx, run_id=run_id)
    lines = await service.logs(session, org_id=ctx.org.id, run_id=run.id, limit=5000)
    siblings = await service.attempts(session, org_id=ctx.org.id, root_id=run.root_id)
    nodes = None
    if run.kind == "dag":
        from tenantry.orchestration.dag_pages import node_runs

        nodes = await node_runs(session, ctx, run)
    return await org_render(
        request,
        session,
        ctx,
        "run.html",
        {
            "run": service.view(run),
            "lines": [service.log_view(line) for line in lines],
            "attempts": [service.view(r) for r in siblings],
            "nodes": nodes,
        },
    )


@router.get("/{run_id}/logs/stream")
async def stream(
    run_id: str,
    request: Request,
    after: int = Query(0, ge=0),
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """The page's live log (same events as the API's stream), on the browser session."""
    run = await service.get(session, ctx=ctx, run_id=run_id)
    await session.close()  # the stream polls with sessions of its own
    return log_stream(request, ctx.org.id, run.id, after)


@router.post("/{run_id}/cancel")
async def cancel(
    run_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    await service.get(session, ctx=ctx, run_id=run_id)  # another org's run: 404, like none
    try:
        run = await service.cancel(session, ctx=ctx, run_id=run_id)
    except Conflict as exc:
        return redirect(f"/o/{ctx.org.slug}/runs/{run_id}", request, exc.detail, "error")
    message = "Cancelled." if run.finished else "Cancel requested; it stops at the next batch."
    return redirect(f"/o/{ctx.org.slug}/runs/{run.id}", request, message)


@router.post("/{run_id}/retry")
async def retry(
    run_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    await service.get(session, ctx=ctx, run_id=run_id)
    try:
        new = await service.retry(session, ctx=ctx, run_id=run_id)
    except Conflict as exc:
        return redirect(f"/o/{ctx.org.slug}/runs/{run_id}", request, exc.detail, "error")
    return redirect(f"/o/{ctx.org.slug}/runs/{new.id}", request, f"Attempt {new.attempt} queued.")
