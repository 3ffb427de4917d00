"""HTML: schedules — the list with next fire and paused badge, create/edit with a live preview
of the next fire times, pause/resume, and the fire history (missed ones included)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, make_page
from tenantry.orchestration import registry, schedules
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("schedules", "Schedules", "/schedules", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/schedules", include_in_schema=False)
KIND_LABELS = {"pipeline": "Pipeline", "transformation": "Transformation"}


async def _targets(request: Request, session, ctx: OrgContext) -> list[tuple[str, list]]:
    """The target select's groups: pipelines, transformations, then the DAG (whole or from a
    node), each a list of (value, label)."""
    nodes = await registry.nodes(session, settings_of(request), ctx.org.id)
    nodes.sort(key=lambda n: n.name.lower())
    groups = [
        (label, [(f"{n.kind}:{n.id}", n.name) for n in nodes if n.kind == kind])
        for kind, label in KIND_LABELS.items()
    ]
    dag = [("dag", "The whole DAG")]
    dag += [(f"dag:{n.kind}:{n.id}", f"From {n.name} ({n.kind}) and downstream") for n in nodes]
    return [g for g in groups if g[1]] + [("DAG", dag)]


def _target_value(s: dict) -> str:
    if s["target_kind"] == "dag":
        return f"dag:{s['dag_node_kind']}:{s['target_id']}" if s["target_id"] else "dag"
    return f"{s['target_kind']}:{s['target_id']}"


def _parse_target(value: str) -> dict:
    kind, _, rest = value.partition(":")
    if kind == "dag":
        node_kind, _, node_id = rest.partition(":")
        return {
            "target_kind": "dag",
            "target_id": node_id or None,
            "dag_node_kind": node_kind or None,
        }
    if not kind:
        raise ValidationFailed.field("target", "choose what the schedule runs")
    return {"target_kind": kind, "target_id": rest or None, "dag_node_kind": None}


def _fields(form: FormData, default_grace: int) -> dict:
    raw = str(form.get("grace_seconds", "")).strip()
    try:
        grace = int(raw) if raw else default_grace
    except ValueError:
        raise ValidationFailed.field(
            "grace_seconds", f"'{raw}' is not a whole number of seconds"
        ) from None
    return {
        "name": str(form.get("name", "")),
        "cron_expr": str(form.get("cron", "")),
        "timezone": str(form.get("timezone", "")),
        "coalesce": form.get("coalesce") == "on",
        "grace_seconds": grace,
        **_parse_target(str(form.get("target", ""))),
    }


def _errors(exc: TenantryError) -> dict[str, str]:
    errors = errors_of(exc)
    for api, form in (
        ("target_id", "target"),
        ("target_kind", "target"),
        ("dag_node_kind", "target"),
    ):
        if api in errors:
            errors[form] = errors.pop(api)
    return errors


async def _detail(
    request, session, ctx, *, schedule=None, values=None, errors=None, status=200, page=1
):
    fires, page_info = [], None
    if schedule is not None:
        params = PageParams(page=page, size=50)
        rows, total = await schedules.list_fires(
            session, ctx=ctx, schedule_id=schedule["id"], params=params
        )
        fires, page_info = [schedules.fire_view(f) for f in rows], make_page([], total, params)
    return await org_render(
        request,
        session,
        ctx,
        "schedule.html",
        {
            "schedule": schedule,
            "values": values or {},
            "errors": errors or {},
            "targets": await _targets(request, session, ctx),
            "fires": fires,
            "page": page_info,
        },
        status,
    )


def _values_of(s: dict) -> dict:
    keys = ("name", "cron", "timezone", "grace_seconds", "coalesce")
    return {k: s[k] for k in keys} | {"target": _target_value(s)}


def _posted(form: FormData) -> dict:
    values = {k: form.get(k, "") for k in form}
    return values | {"coalesce": form.get("coalesce") == "on"}


@router.get("")
async def list_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    rows, _ = await schedules.list_schedules(session, ctx=ctx, params=PageParams(size=200))
    items = [await schedules.view(session, s, fires=1) for s in rows]
    return await org_render(request, session, ctx, "schedules.html", {"schedules": items})


@router.get("/preview")
async def preview(
    cron: str = Query(""),
    timezone: str = Query("UTC"),
    ctx: OrgContext = page_requires(P.DATA_READ),
):
    """The form's live preview (JSON on the browser session)."""
    try:
        return schedules.preview(cron, timezone)
    except ValidationFailed as exc:
        return JSONResponse(exc.problem(), status_code=exc.status)


@router.get("/new")
async def new_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_WRITE), session=Depends(db_session)
):
    grace = settings_of(request).schedule_default_grace_seconds
    values = {"cron": "0 6 * * *", "timezone": "UTC", "coalesce": True, "grace_seconds": grace}
    return await _detail(request, session, ctx, values=values)


@router.post("/new")
async def create(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    try:
        fields = _fields(form, settings_of(request).schedule_default_grace_seconds)
        s = await schedules.create(session, ctx=ctx, **fields)
    except TenantryError as exc:
        await session.rollback()
        return await _detail(
            request, session, ctx, values=_posted(form), errors=_errors(exc), status=exc.status
        )
    return redirect(f"/o/{ctx.org.slug}/schedules/{s.id}", request, f"Created {s.name}.")


@router.get("/{schedule_id}")
async def detail_page(
    schedule_id: str,
    request: Request,
    page: int = Query(1, ge=1),
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    s = await schedules.view(
        session, await schedules.get(session, ctx=ctx, schedule_id=schedule_id)
    )
    return await _detail(request, session, ctx, schedule=s, values=_values_of(s), page=page)


@router.post("/{schedule_id}")
async def update(
    schedule_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    current = await schedules.get(session, ctx=ctx, schedule_id=schedule_id)
    try:
        fields = _fields(form, current.grace_seconds)
        await schedules.update(session, ctx=ctx, schedule_id=schedule_id, **fields)
    except TenantryError as exc:
        await session.rollback()
        s = await schedules.view(
            session, await schedules.get(session, ctx=ctx, schedule_id=schedule_id)
        )
        return await _detail(
            request,
            session,
            ctx,
            schedule=s,
            values=_posted(form),
            errors=_errors(exc),
            status=exc.status,
        )
    return redirect(f"/o/{ctx.org.slug}/schedules/{schedule_id}", request, "Saved.")


async def _set_paused(request, form, ctx, session, schedule_id: str, paused: bool):
    s = await schedules.set_paused(session, ctx=ctx, schedule_id=schedule_id, paused=paused)
    message = "Paused." if paused else "Resumed: it fires from the next fire time on."
    back = "" if form.get("back") == "list" else f"/{s.id}"  # the page the button was on
    return redirect(f"/o/{ctx.org.slug}/schedules{back}", request, message)


@router.post("/{schedule_id}/pause")
async def pause(
    schedule_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    return await _set_paused(request, form, ctx, session, schedule_id, True)


@router.post("/{schedule_id}/resume")
async def resume(
    schedule_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    return await _set_paused(request, form, ctx, session, schedule_id, False)


@router.post("/{schedule_id}/delete")
async def delete(
    schedule_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    await schedules.delete(session, ctx=ctx, schedule_id=schedule_id)
    return redirect(f"/o/{ctx.org.slug}/schedules", request, "Schedule deleted.")
