"""HTML: the semantic layer — the model's files and versions, the YAML editor (checked as you
type), version diffs and the query playground (embed tokens: ``embed_pages``).

The editor's live check is a POST of the editor's own form on the browser session, CSRF-checked
like every page form, answered with JSON. The playground calls the Cube API with the session
cookie and the ``X-Tenantry-Org`` header."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import NotFound, TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.semantic import catalog, embed_pages, service
from tenantry.semantic.models import ModelVersion
from tenantry.semantic.runtime import runtime_of
from tenantry.semantic.schema import ModelInvalid
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("semantic", "Semantic models", "/semantic", "Analytics", "data:read"))
register(NavItem("playground", "Playground", "/playground", "Analytics", "semantic:query"))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)
BASE = "/semantic"
STARTER = """cubes:
  - name: orders
    sql_table: marts.orders
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: created_at
        sql: created_at
        type: time
    measures:
      - name: count
        type: count
"""


def _base(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}{BASE}"


def _extra_dir(request: Request) -> Path | None:
    return settings_of(request).semantic_templates_dir


def problems_of(exc: TenantryError, path: str) -> list[dict]:
    """Every problem as {file, cube, member, line, message}, for the list under the editor."""
    if isinstance(exc, ModelInvalid):
        return [p.as_dict() for p in exc.problems]
    found = exc.errors or [{"field": "", "message": exc.detail}]
    return [
        {"file": path, "cube": None, "member": None, "line": None, "message": e["message"]}
        for e in found
    ]


# --- the model: files, templates, versions -------------------------------------------------


async def _overview(request, session, ctx, params: PageParams, *, errors=None, status=200):
    latest = await service.current(session, ctx.org.id)
    rows, total = await service.list_versions(session, ctx=ctx, params=params)
    enabled = set(latest.templates) if latest else set()
    files = latest.files if latest else {}
    context = {
        "version": service.view(latest, with_files=False) if latest else None,
        "files": [{"name": n, "lines": len(files[n].splitlines())} for n in sorted(files)],
        "templates": [
            {
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "files": sorted(t.files),
                "enabled": t.name in enabled,
            }
            for t in catalog.available(_extra_dir(request)).values()
        ],
        "history": make_page([service.view(v, with_files=False) for v in rows], total, params),
        "problems": errors or [],
    }
    return await org_render(request, session, ctx, "semantic.html", context, status)


@router.get(BASE)
async def overview(
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    return await _overview(request, session, ctx, params)


def _saved(request: Request, ctx: OrgContext, version: ModelVersion, created: bool, to: str):
    if not created:
        return redirect(
            to, request, f"Nothing changed; the model is still version {version.number}."
        )
    runtime_of(request.app).forget_org(ctx.org.id)
    return redirect(to, request, f"Saved version {version.number}.")


@router.post(BASE + "/templates")
async def save_templates(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """Enable and disable templates: a new version with the same files."""
    chosen = sorted({t for t in form.getlist("templates") if isinstance(t, str)})
    latest = await service.current(session, ctx.org.id)
    before = set(latest.templates) if latest else set()
    on, off = sorted(set(chosen) - before), sorted(before - set(chosen))
    if not (on or off):
        return redirect(_base(ctx), request, "Nothing changed.")
    message = "; ".join(
        part
        for part in (
            "Enable " + ", ".join(on) if on else "",
            "Disable " + ", ".join(off) if off else "",
        )
        if part
    )
    try:
        version, created = await service.save(
            session,
            ctx=ctx,
            files=dict(latest.files) if latest else {},
            templates=chosen,
            message=message or "Templates",
            extra_dir=_extra_dir(request),
        )
    except TenantryError as exc:
        await session.rollback()
        problems = problems_of(exc, "templates")
        return await _overview(
            request, session, ctx, PageParams(), errors=problems, status=exc.status
        )
    return _saved(request, ctx, version, created, _base(ctx))


async def _last_change(session, ctx: OrgContext, path: str) -> int | None:
    """The newest version that changed ``path`` (of the last 100)."""
    rows, _ = await service.list_versions(session, ctx=ctx, params=PageParams(size=100))
    for newer, older in zip(rows, [*rows[1:], None], strict=True):
        if newer.files.get(path) != (older.files.get(path) if older else None):
            return newer.number
    return None


async def _editor(
    request, session, ctx, *, path, content, new, message="", problems=None, status=200
):
    latest = await service.current(session, ctx.org.id)
    changed_in = None if new else await _last_change(session, ctx, path)
    context = {
        "path": path,
        "content": content,
        "new": new,
        "message": message,
        "version": latest.number if latest else 0,
        "changed_in": changed_in,
        "problems": problems or [],
    }
    return await org_render(request, session, ctx, "semantic_editor.html", context, status)


@router.get(BASE + "/new")
async def new_file(
    request: Request, ctx: OrgContext = page_requires(P.DATA_WRITE), session=Depends(db_session)
):
    return await _editor(request, session, ctx, path="", content=STARTER, new=True)


@router.post(BASE + "/new")
async def create_file(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    path, content = str(form.get("path", "")).strip(), str(form.get("content", ""))
    try:
        latest = await service.current(session, ctx.org.id)
        if not path:
            raise ValidationFailed.field("path", "give the file a name, like sales/orders.yml")
        if latest and path in latest.files:
            raise ValidationFailed.field("path", f"'{path}' exists already; open it to edit it")
        version, created = await service.put_file(
            session,
            ctx=ctx,
            name=path,
            text=content,
            message=str(form.get("message", "")) or f"Add {path}",
            extra_dir=_extra_dir(request),
        )
    except TenantryError as exc:
        await session.rollback()
        problems = problems_of(exc, path or "(new file)")
        return await _editor(
            request,
            session,
            ctx,
            path=path,
            content=content,
            new=True,
            message=str(form.get("message", "")),
            problems=problems,
            status=exc.status,
        )
    return _saved(request, ctx, version, created, f"{_base(ctx)}/files/{path}")


@router.post(BASE + "/validate")
async def validate(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """The editor's check as you type: this file as it is, with the other current files."""
    path = str(form.get("path", "")).strip() or "new_file.yml"
    latest = await service.current(session, ctx.org.id)
    files = dict(latest.files) if latest else {}
    original = str(form.get("original", "")).strip()
    if original and original != path:
        files.pop(original, None)
    files[path] = str(form.get("content", ""))
    templates = list(latest.templates) if latest else []
    try:
        problems = service.validate(files, templates, _extra_dir(request))
    except TenantryError as exc:
        problems = problems_of(exc, path)
    return {"valid": not problems, "file": path, "errors": problems}


async def _current_file(session, ctx: OrgContext, path: str) -> str:
    latest = await service.current(session, ctx.org.id)
    if latest is None or path not in latest.files:
        raise NotFound(f"There is no model file '{path}'.")
    return latest.files[path]


@router.get(BASE + "/files/{path:path}")
async def edit_file(
    path: str,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    content = await _current_file(session, ctx, path)
    return await _editor(request, session, ctx, path=path, content=content, new=False)


@router.post(BASE + "/files/{path:path}")
async def save_file(
    path: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """A new version with this file's new text (recreated if someone deleted it meanwhile).
    Refused: every problem listed, the text kept."""
    content = str(form.get("content", ""))
    try:
        version, created = await service.put_file(
            session,
            ctx=ctx,
            name=path,
            text=content,
            message=str(form.get("message", "")),
            extra_dir=_extra_dir(request),
        )
    except TenantryError as exc:
        await session.rollback()
        return await _editor(
            request,
            session,
            ctx,
            path=path,
            content=content,
            new=False,
            message=str(form.get("message", "")),
            problems=problems_of(exc, path),
            status=exc.status,
        )
    return _saved(request, ctx, version, created, f"{_base(ctx)}/files/{path}")


@router.post(BASE + "/delete/{path:path}")
async def delete_file(
    path: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    try:
        version, _ = await service.delete_file(
            session, ctx=ctx, name=path, extra_dir=_extra_dir(request)
        )
    except ModelInvalid as exc:
        await session.rollback()
        content = await _current_file(session, ctx, path)
        problems = problems_of(exc, path)
        head = {
            "file": path,
            "cube": None,
            "member": None,
            "line": None,
            "message": "Not deleted: the model would be invalid without this file.",
        }
        return await _editor(
            request,
            session,
            ctx,
            path=path,
            content=content,
            new=False,
            problems=[head, *problems],
            status=exc.status,
        )
    runtime_of(request.app).forget_org(ctx.org.id)
    return redirect(_base(ctx), request, f"Deleted {path} (version {version.number}).")


def diff_lines(text: str) -> list[tuple[str, str]]:
    """A unified diff's lines with their kind: add, del, hunk, head or context."""
    out = []
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        out.append((kind, line))
    return out


@router.get(BASE + "/versions/{number}")
async def version_diff(
    number: int,
    request: Request,
    ctx: OrgContext = page_requires(P.DATA_READ),
    session=Depends(db_session),
):
    """What version ``number`` changed (against ``?against=``, default: the one before)."""
    new = await service.get_version(session, org_id=ctx.org.id, number=number)
    try:
        base = int(request.query_params.get("against", number - 1))
    except ValueError:
        base = number - 1
    old = await service.get_version(session, org_id=ctx.org.id, number=base) if base > 0 else None
    changes = service.diff(old, new)
    for f in changes["files"]:
        f["lines"] = diff_lines(f["diff"])
    context = {
        "v": service.view(new, with_files=False),
        "changes": changes,
        "latest": await service.current_number(session, ctx.org.id),
    }
    return await org_render(request, session, ctx, "semantic_diff.html", context)


# --- the playground ------------------------------------------------------------------------


@router.get("/playground")
async def playground(
    request: Request,
    ctx: OrgContext = page_requires(P.SEMANTIC_QUERY),
    session=Depends(db_session),
):
    """Pick members, run the query through the Cube API, see rows, a chart and the SQL. The
    query lives in ``?query=`` so a link reopens it."""
    raw, query, problem = request.query_params.get("query"), None, None
    if raw:
        try:
            query = json.loads(raw)
            if not isinstance(query, dict):
                raise ValueError("must be a JSON object")
        except ValueError as exc:
            query, problem = None, f"The query in the link is not a JSON object ({exc})."
    context = {
        "initial_query": json.dumps(query) if query else "",
        "query_problem": problem,
    }
    return await org_render(request, session, ctx, "playground.html", context)


# Embed tokens and signing keys: their own module, under this router's prefix.
router.include_router(embed_pages.router)
