"""JSON API: prompts, versions, labels, diff, validate, render and execute."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from tenantry.core.errors import ValidationFailed
from tenantry.core.http import event_stream
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.prompts import execute, parts, rendering, service
from tenantry.prompts.diff import diff_parts, diff_specs
from tenantry.prompts.schemas import ExecuteIn, LabelIn, PreviewIn, PromptIn, RenderIn, ValidateIn
from tenantry.prompts.validate import validate_yaml
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}/prompts", tags=["prompts"])


async def _saved(session, ctx, prompt, version, created: bool, labels: list[str]) -> JSONResponse:
    for name in labels:
        await service.move_label(session, ctx=ctx, ref=prompt.id, name=name, version=version.number)
    all_labels = await service.labels_of(session, prompt)
    body = service.version_view(prompt, version, labels=all_labels) | {"created": created}
    return JSONResponse(jsonable_encoder(body), status_code=201 if created else 200)


@router.get("")
async def list_prompts(
    q: str = Query("", description="Search slugs and descriptions"),
    tag: str = Query("", description="Only prompts with this tag"),
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_prompts(
        session, org_id=ctx.org.id, params=params, q=q, tag=tag
    )
    labels = await service.labels_for(session, rows)
    return make_page([service.prompt_view(p, labels[p.id]) for p in rows], total, params)


@router.post("", status_code=201)
async def create_prompt(
    body: PromptIn, ctx: OrgContext = requires(P.PROMPTS_WRITE), session=Depends(db_session)
):
    """Create a prompt (version 1). Its content is validated first; an error refuses it whole."""
    spec = body.parsed()
    await service.check_labels(session, ctx, body.labels)
    prompt, version, created = await service.save(
        session, ctx=ctx, spec=spec, message=body.message, create_only=True
    )
    return await _saved(session, ctx, prompt, version, created, body.labels)


@router.post("/validate")
async def validate(
    body: ValidateIn, ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)
):
    """Check unsaved YAML: syntax (with lines), inputs used vs declared, unknown parts."""
    known = await parts.latest_contents(session, org_id=ctx.org.id)
    problems = validate_yaml(body.yaml, known)
    return {"valid": not any(p["severity"] == "error" for p in problems), "problems": problems}


@router.post("/preview")
async def preview(
    body: PreviewIn,
    ctx: OrgContext = requires(P.PROMPTS_RENDER),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Render unsaved YAML with the parts' current versions: the editor's live preview."""
    from tenantry.prompts.inputs import coerce_inputs
    from tenantry.prompts.spec import load_yaml

    known = await parts.latest_contents(session, org_id=ctx.org.id)
    problems = validate_yaml(body.yaml, known)
    spec = load_yaml(body.yaml)
    inputs = coerce_inputs(spec.inputs, body.inputs)
    rendered = await rendering.render_off_loop(settings, spec, inputs, known)
    return {"rendered": rendered.to_dict(), "problems": problems}


@router.get("/{prompt}")
async def get_prompt(
    prompt: str,
    label: str | None = Query(None, description="Default: production"),
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    ctx: OrgContext = requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """A prompt by id or slug, at a label (default `production`) or a version number, with the
    exact text of the parts that version pinned (so clients can render it themselves)."""
    found, row, resolved, labels = await service.resolve(
        session, org_id=ctx.org.id, ref=prompt, label=label, version=version
    )
    _, contents = await rendering.load_version(session, org_id=ctx.org.id, version=row)
    view = service.version_view(found, row, labels=labels, label=resolved)
    view["part_contents"] = contents
    return view


@router.put("/{prompt}")
async def save_prompt(
    prompt: str,
    body: PromptIn,
    ctx: OrgContext = requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    """Save new content: a new version if anything changed (201), none otherwise (200)."""
    existing = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    spec = body.parsed(existing.slug)
    await service.check_labels(session, ctx, body.labels)
    found, version, created = await service.save(session, ctx=ctx, spec=spec, message=body.message)
    return await _saved(session, ctx, found, version, created, body.labels)


@router.delete("/{prompt}", status_code=204)
async def delete_prompt(
    prompt: str, ctx: OrgContext = requires(P.PROMPTS_WRITE), session=Depends(db_session)
):
    """Delete a prompt and its versions; its executions stay in the log."""
    await service.delete_prompt(session, ctx=ctx, ref=prompt)


@router.get("/{prompt}/versions")
async def list_versions(
    prompt: str,
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    labels = await service.labels_of(session, found)
    rows, total = await service.list_versions(session, prompt=found, params=params)
    items = [
        {
            "version": v.number,
            "message": v.message,
            "author": v.author,
            "created_at": v.created_at,
            "content_hash": v.content_hash,
            "parts": v.parts,
            "labels": sorted(n for n, num in labels.items() if num == v.number),
        }
        for v in rows
    ]
    return make_page(items, total, params)


@router.get("/{prompt}/versions/{number}")
async def get_version(
    prompt: str,
    number: int,
    ctx: OrgContext = requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    found, row, _, labels = await service.resolve(
        session, org_id=ctx.org.id, ref=prompt, version=number
    )
    return service.version_view(found, row, labels=labels)


@router.get("/{prompt}/diff")
async def diff(
    prompt: str,
    from_version: int | None = Query(
        None, alias="from", ge=0, le=2**31 - 1, description="Default: to − 1"
    ),
    to_version: int | None = Query(
        None, alias="to", ge=1, le=2**31 - 1, description="Default: the latest"
    ),
    ctx: OrgContext = requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """What changed between two versions: template, messages, inputs, model config, parts."""
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    to_n = to_version or found.latest_version
    from_n = from_version if from_version is not None else to_n - 1
    if from_n < 1:
        raise ValidationFailed.field("from", "there is no earlier version to compare with")
    a = await service.get_version(session, prompt=found, number=from_n)
    b = await service.get_version(session, prompt=found, number=to_n)
    changes = diff_specs(a.spec, b.spec) + diff_parts(a.parts, b.parts)
    return {"prompt": found.slug, "from": from_n, "to": to_n, "changes": changes}


@router.get("/{prompt}/labels")
async def list_labels(
    prompt: str, ctx: OrgContext = requires(P.PROMPTS_READ), session=Depends(db_session)
):
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    return {
        "labels": await service.labels_of(session, found),
        "protected": await service.protected_labels(session, ctx.org.id),
    }


@router.put("/{prompt}/labels/{label}")
async def move_label(
    prompt: str,
    label: str,
    body: LabelIn,
    ctx: OrgContext = requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    """Point a label at a version — how a version ships, and how it is rolled back. Protected
    labels (default: production) need an admin. Every move is audited."""
    await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    if body.version is None:
        raise ValidationFailed.field("version", "is required: the version the label points at")
    labels = await service.move_label(
        session, ctx=ctx, ref=prompt, name=label, version=body.version
    )
    return {"labels": labels}


@router.delete("/{prompt}/labels/{label}", status_code=204)
async def delete_label(
    prompt: str,
    label: str,
    ctx: OrgContext = requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    await service.delete_label(session, ctx=ctx, ref=prompt, name=label)


@router.get("/{prompt}/label-history")
async def label_history(
    prompt: str,
    ctx: OrgContext = requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    rows, total = await service.label_history(session, prompt=found, params=params)
    return make_page(rows, total, params)


@router.post("/{prompt}/render")
async def render_prompt(
    prompt: str,
    body: RenderIn,
    ctx: OrgContext = requires(P.PROMPTS_RENDER),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Render a version with inputs (validated against the declared types); nothing is called."""
    found = await rendering.render_stored(
        session,
        settings,
        org_id=ctx.org.id,
        ref=prompt,
        label=body.label,
        version=body.version,
        inputs=body.inputs,
    )
    return {
        "prompt": found.slug,
        "version": found.version,
        "label": found.label,
        "inputs": found.inputs,
        "rendered": found.rendered.to_dict(),
        "model": found.spec.model.model_dump(exclude_none=True),
    }


@router.post("/{prompt}/execute")
async def execute_prompt(
    prompt: str,
    body: ExecuteIn,
    request: Request,
    ctx: OrgContext = requires(P.PROMPTS_EXECUTE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Render and call the provider; every call is recorded with tokens, cost and latency.
    Quotas are reserved before the call (429 when it cannot fit). `stream: true` answers with
    server-sent events: `start`, `text`, `tool_call`, then `done` (the execution) or `error`."""
    db = request.app.state.db
    options = execute.ExecuteOptions(
        inputs=body.inputs,
        label=body.label,
        version=body.version,
        model=body.model.model_dump(exclude_none=True) if body.model else {},
        store_inputs=body.store_inputs,
    )
    prepared = await execute.prepare(session, db, settings, ctx=ctx, ref=prompt, options=options)
    if body.stream:
        return event_stream(
            execute.stream(db, settings, prepared),
            after=lambda: execute.release(
                db, settings, prepared, "The client left before the answer began."
            ),
        )
    return await execute.run(db, settings, prepared)
