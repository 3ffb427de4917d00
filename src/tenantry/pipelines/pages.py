"""HTML: pipelines — list with their last run, create/edit (options shown where they apply),
Run now."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.connections import service as connections
from tenantry.core.errors import TenantryError
from tenantry.core.pagination import PageParams
from tenantry.orchestration import service as runs
from tenantry.pipelines import service
from tenantry.pipelines.forms import FILTER_ROWS, field_errors, form_values, spec_from_form
from tenantry.pipelines.schemas import MODES_BY_KIND
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("pipelines", "Pipelines", "/pipelines", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/pipelines", include_in_schema=False)


async def _choices(session, ctx):
    rows, _ = await connections.list_connections(
        session, ctx=ctx, params=PageParams(size=200), kind=None
    )
    sources = [
        {"id": c.id, "name": c.name, "kind": c.kind, "modes": MODES_BY_KIND[c.kind]}
        for c in rows
        if c.kind in MODES_BY_KIND
    ]
    destinations = [
        {"id": c.id, "name": c.name, "kind": c.kind}
        for c in rows
        if c.kind in service.DESTINATION_KINDS
    ]
    return sources, destinations


async def _form(request, session, ctx, *, pipeline=None, values=None, errors=None, status=200):
    sources, destinations = await _choices(session, ctx)
    recent = []
    if pipeline:
        rows, _ = await runs.list_runs(
            session, ctx=ctx, params=PageParams(size=10), target_id=pipeline["id"]
        )
        recent = [runs.view(r) for r in rows]
    return await org_render(
        request,
        session,
        ctx,
        "pipeline_form.html",
        {
            "pipeline": pipeline,
            "values": values if values is not None else {},
            "errors": errors or {},
            "sources": sources,
            "destinations": destinations,
            "filter_rows": range(FILTER_ROWS),
            "recent": recent,
        },
        status,
    )


@router.get("")
async def list_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    rows, _ = await service.list_pipelines(session, ctx=ctx, params=PageParams(size=200))
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[p.id for p in rows])
    sources, destinations = await _choices(session, ctx)
    names = {c["id"]: c["name"] for c in sources + destinations}
    items = [service.view(p, last_run=last.get(p.id)) for p in rows]
    return await org_render(
        request, session, ctx, "pipelines.html", {"pipelines": items, "names": names}
    )


@router.get("/new")
async def new_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_WRITE), session=Depends(db_session)
):
    return await _form(request, session, ctx, values={"dataset": "raw", "batch_size": 50000})


@router.post("/new")
async def create(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    spec = spec_from_form(form)
    values = {k: form.get(k, "") for k in form}
    try:
        p = await service.create(
            session,
            ctx=ctx,
            name=str(form.get("name", "")),
            description=str(form.get("description", "")),
            source_id=str(form.get("source_id", "")),
            destination_id=str(form.get("destination_id", "")) or None,
            spec=spec,
        )
    except TenantryError as exc:
        await session.rollback()
        return await _form(
            request, session, ctx, values=values, errors=field_errors(exc), status=exc.status
        )
    return redirect(f"/o/{ctx.org.slug}/pipelines/{p.id}", request, f"Created {p.name}.")


@router.get("/{pipeline_id}")
async def edit_page(
    pipeline_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    p = service.view(await service.get(session, ctx=ctx, pipeline_id=pipeline_id))
    values = form_values(p["spec"]) | {
        "name": p["name"],
        "description": p["description"],
        "source_id": p["source_id"],
        "destination_id": p["destination_id"] or "",
    }
    return await _form(request, session, ctx, pipeline=p, values=values)


@router.post("/{pipeline_id}")
async def update(
    pipeline_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    spec = spec_from_form(form)
    destination = str(form.get("destination_id", ""))
    try:
        p = await service.update(
            session,
            ctx=ctx,
            pipeline_id=pipeline_id,
            name=str(form.get("name", "")),
            description=str(form.get("description", "")),
            destination_id=destination or None,
            clear_destination=not destination,
            spec=spec,
            replace_spec=True,
        )
    except TenantryError as exc:
        await session.rollback()
        current = service.view(await service.get(session, ctx=ctx, pipeline_id=pipeline_id))
        values = {k: form.get(k, "") for k in form}
        return await _form(
            request,
            session,
            ctx,
            pipeline=current,
            values=values,
            errors=field_errors(exc),
            status=exc.status,
        )
    return redirect(f"/o/{ctx.org.slug}/pipelines/{p.id}", request, "Saved.")


@router.post("/{pipeline_id}/run")
async def run_now(
    pipeline_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    run = await service.start_run(session, ctx=ctx, pipeline_id=pipeline_id)
    return redirect(f"/o/{ctx.org.slug}/runs/{run.id}", request, "Run queued.")


@router.post("/{pipeline_id}/delete")
async def delete(
    pipeline_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    await service.delete(session, ctx=ctx, pipeline_id=pipeline_id)
    return redirect(f"/o/{ctx.org.slug}/pipelines", request, "Pipeline deleted.")
