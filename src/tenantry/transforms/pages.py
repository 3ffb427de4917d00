"""HTML: transformations — the list with their last run, the editor (SQL with highlighting and
inline errors as you type, compile, preview, run, test) and the sources page.

The editor's live calls (validate, compile, preview) are POSTs of the editor's own form on the
browser session, CSRF-checked like every page form, answered with JSON."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams
from tenantry.orchestration import service as runs
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.transforms import forms, preview, service
from tenantry.transforms.jobs import live_transformations
from tenantry.transforms.schemas import SourceSettings, TransformPatch, TransformSpec
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("transformations", "Transformations", "/transformations", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)
BASE = "/transformations"


def _problem(exc: TenantryError) -> JSONResponse:
    return JSONResponse(exc.problem(), status_code=exc.status)


async def _editor(request, session, ctx, *, transform=None, values=None, errors=None, status=200):
    recent, models = [], [t.name for t in await live_transformations(session, ctx.org.id)]
    if transform:
        rows, _ = await runs.list_runs(
            session, ctx=ctx, params=PageParams(size=10), target_id=transform["id"]
        )
        recent = [runs.view(r) for r in rows]
    sources = await service.sources(session, settings=settings_of(request), ctx=ctx)
    return await org_render(
        request,
        session,
        ctx,
        "transform_form.html",
        {
            "transform": transform,
            "values": values or {},
            "errors": errors or {},
            "recent": recent,
            "models": [m for m in models if not transform or m != transform["name"]],
            "sources": sources,
        },
        status,
    )


@router.get(BASE)
async def list_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    rows, _ = await service.list_transformations(session, ctx=ctx, params=PageParams(size=200))
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[t.id for t in rows])
    items = [service.view(t, last_run=last.get(t.id)) for t in rows]
    return await org_render(request, session, ctx, "transforms.html", {"transforms": items})


async def _start(request, session, ctx, **kwargs):
    run = await service.start_run(session, ctx=ctx, **kwargs)
    return redirect(f"/o/{ctx.org.slug}/runs/{run.id}", request, "Run queued.")


@router.post(BASE + "/run")
async def run_all(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """`dbt build` of the whole project."""
    return await _start(request, session, ctx, command="build")


@router.post(BASE + "/freshness")
async def freshness(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    return await _start(request, session, ctx, command="freshness")


@router.get(BASE + "/new")
async def new_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_WRITE), session=Depends(db_session)
):
    kind = "snapshot" if request.query_params.get("kind") == "snapshot" else "model"
    values = {"kind": kind, "schema": "staging", "materialization": "view"}
    values["columns"] = forms.column_rows([])
    return await _editor(request, session, ctx, values=values)


def _kind(form: FormData) -> str:
    return "snapshot" if form.get("kind") == "snapshot" else "model"


@router.post(BASE + "/new")
async def create(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    kind = _kind(form)
    try:
        data = forms.transform_in(form, kind)
        t = await service.create(session, settings=settings_of(request), ctx=ctx, data=data)
    except TenantryError as exc:
        await session.rollback()
        values = forms.posted_values(form, kind)
        errors = forms.field_errors(exc)
        return await _editor(request, session, ctx, values=values, errors=errors, status=exc.status)
    return redirect(f"/o/{ctx.org.slug}{BASE}/{t.id}", request, f"Created {t.name}.")


@router.post(BASE + "/validate")
async def validate(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """The editor's check as you type: the SQL (refs, sources, cycles) of the form as it is."""
    name = str(form.get("name", "")).strip() or "new_model"
    sql = str(form.get("sql", ""))
    editing = str(form.get("id", "")) or None
    try:
        spec = TransformSpec.model_validate(forms.spec_from_form(form, _kind(form)))
    except PydanticValidationError:
        spec = TransformSpec()  # the spec's own errors are shown when saving
    try:
        if not sql.strip():
            raise ValidationFailed.field("sql", f"model '{name}', line 1: there is no SQL yet")
        parsed = await service.check(
            session, settings_of(request), ctx, name=name, sql=sql, spec=spec, exclude=editing
        )
    except TenantryError as exc:
        return _problem(exc)
    sources = [f"{d}.{n}" for d, n in parsed.sources]
    return {
        "valid": True,
        "refs": parsed.refs,
        "sources": sources,
        "sql_checked": parsed.sql_checked,
    }


@router.get(BASE + "/{transform_id}")
async def edit_page(
    transform_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    last = await runs.latest_by_target(session, org_id=ctx.org.id, target_ids=[t.id])
    view = service.view(t, last_run=last.get(t.id))
    return await _editor(request, session, ctx, transform=view, values=forms.form_values(view))


@router.post(BASE + "/{transform_id}")
async def update(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    kind = t.kind
    try:
        data = forms.transform_in(form, kind)
        patch = TransformPatch(
            name=data.name, sql=data.sql, description=data.description, spec=data.spec
        )
        await service.update(
            session, settings=settings_of(request), ctx=ctx, transform_id=t.id, patch=patch
        )
    except TenantryError as exc:
        await session.rollback()
        current = service.view(await service.get(session, ctx=ctx, transform_id=transform_id))
        return await _editor(
            request,
            session,
            ctx,
            transform=current,
            values=forms.posted_values(form, kind),
            errors=forms.field_errors(exc),
            status=exc.status,
        )
    return redirect(f"/o/{ctx.org.slug}{BASE}/{transform_id}", request, "Saved.")


def _sql(form: FormData) -> str | None:
    sql = form.get("sql")
    return str(sql) if isinstance(sql, str) and sql.strip() else None


@router.post(BASE + "/{transform_id}/compile")
async def compile_(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """dbt's compiled SQL of the editor's (unsaved) SQL, as JSON."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    try:
        return await preview.compile_sql(
            session, settings=settings_of(request), ctx=ctx, transform=t, sql=_sql(form)
        )
    except TenantryError as exc:
        return _problem(exc)


@router.post(BASE + "/{transform_id}/preview")
async def preview_rows(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """The first rows of the editor's (unsaved) SQL, as JSON."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    try:
        limit = int(str(form.get("limit", "") or 50))
    except ValueError:
        limit = 50
    try:
        return await preview.preview(
            session,
            settings=settings_of(request),
            ctx=ctx,
            transform=t,
            sql=_sql(form),
            limit=max(1, min(limit, 1000)),
        )
    except TenantryError as exc:
        return _problem(exc)


@router.post(BASE + "/{transform_id}/run")
async def run_one(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """Build it: run the model, then its tests."""
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    return await _start(request, session, ctx, transform=t)


@router.post(BASE + "/{transform_id}/test")
async def test_one(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_RUN),
    session=Depends(db_session),
):
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    return await _start(request, session, ctx, command="test", transform=t)


@router.post(BASE + "/{transform_id}/delete")
async def delete(
    transform_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    t = await service.get(session, ctx=ctx, transform_id=transform_id)
    await service.delete(session, ctx=ctx, transform_id=t.id)
    return redirect(f"/o/{ctx.org.slug}{BASE}", request, f"Deleted {t.name}.")


# --- sources -------------------------------------------------------------------------------


async def _sources_page(request, session, ctx, *, errors=None, failed=None, status=200):
    items = await service.sources(session, settings=settings_of(request), ctx=ctx)
    by_dataset: dict[str, list[dict]] = {}
    for s in items:
        by_dataset.setdefault(s["dataset"], []).append(s)
    return await org_render(
        request,
        session,
        ctx,
        "sources.html",
        {"datasets": sorted(by_dataset.items()), "errors": errors or {}, "failed": failed},
        status,
    )


@router.get("/sources")
async def sources_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    return await _sources_page(request, session, ctx)


@router.post("/sources")
async def save_source(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """One table's description and freshness (the table named by the form's hidden fields)."""
    dataset, table = str(form.get("dataset", "")), str(form.get("table", ""))
    try:
        try:
            data = SourceSettings(
                description=str(form.get("description", "")).strip(),
                loaded_at_field=str(form.get("loaded_at_field", "")).strip() or None,
                warn_after=forms.freshness(form, "warn"),
                error_after=forms.freshness(form, "error"),
            )
        except PydanticValidationError as exc:
            e = exc.errors()[0]
            field = str(e["loc"][0]) if e["loc"] else "_form"
            raise ValidationFailed.field(field, e["msg"].removeprefix("Value error, ")) from None
        await service.set_source(
            session, settings=settings_of(request), ctx=ctx, dataset=dataset, table=table, data=data
        )
    except ValidationFailed as exc:
        await session.rollback()
        errors = {e["field"]: e["message"] for e in exc.errors}
        return await _sources_page(
            request, session, ctx, errors=errors, failed=f"{dataset}.{table}", status=exc.status
        )
    return redirect(f"/o/{ctx.org.slug}/sources#{dataset}.{table}", request, "Source saved.")
