"""HTML: the prompt registry — the prompt list, parts, the YAML editor (checked and previewed as
you type, with an input form generated from the declared inputs), versions, diffs and labels.
Running, the execution log and the settings: ``exec_pages``.

The editor's live check and preview are POSTs of the editor's own form on the browser session,
CSRF-checked like every page form, answered with JSON (the ``/api/v1`` routes take tokens only).
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.http import error_response
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.prompts import exec_pages, part_pages, parts, service, version_pages
from tenantry.prompts.exec_pages import BASE, base, input_fields, label_choices, prompt_context
from tenantry.prompts.spec import PromptSpec, dump_yaml, load_yaml
from tenantry.prompts.validate import document_lines, validate_yaml
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web import flash
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("prompts", "Prompts", BASE, "AI", P.PROMPTS_READ.value))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)
STARTER = """id: support-reply
description: Answers a customer's question in the house style
tags: [support]
model:
  temperature: 0.3
  max_tokens: 400
inputs:
  customer_name:
    type: string
    description: Who is asking
  question:
    type: string
    description: The customer's question
  tone:
    type: enum
    values: [friendly, formal]
    default: friendly
messages:
  - role: system
    content: You are a helpful support agent. Answer in a {{ tone }} tone.
  - role: user
    content: |
      {{ customer_name }} asks: {{ question }}
"""


async def _refused(session, ctx: OrgContext, text: str, exc: TenantryError) -> list[dict]:
    """A refused save's problems, listed like the live check lists them."""
    known = await parts.latest_contents(session, org_id=ctx.org.id)
    problems = [p for p in validate_yaml(text, known) if p["severity"] == "error"]
    if not problems:
        found = exc.errors if exc.status == 422 and exc.errors else [{"message": exc.detail}]
        problems = [
            {"severity": "error", "kind": "save", "where": e.get("field", ""), "line": None}
            | {"message": e["message"]}
            for e in found
        ]
    return document_lines(text, problems)


# --- the list ------------------------------------------------------------------------------


@router.get(BASE)
async def prompt_list(
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    q, tag = request.query_params.get("q", "").strip(), request.query_params.get("tag", "").strip()
    rows, total = await service.list_prompts(
        session, org_id=ctx.org.id, params=params, q=q, tag=tag
    )
    labels = await service.labels_for(session, rows)
    everything, _ = await service.list_prompts(
        session, org_id=ctx.org.id, params=PageParams(size=200)
    )
    context = {
        "page": make_page([service.prompt_view(p, labels[p.id]) for p in rows], total, params),
        "q": q,
        "tag": tag,
        "tags": sorted({t for p in everything for t in p.tags or []}),
        "protected": await service.protected_labels(session, ctx.org.id),
    }
    return await org_render(request, session, ctx, "prompts.html", context)


# --- the editor: new prompts, live check and preview ---------------------------------------


async def _editor(request, session, ctx, *, ref, text, message="", problems=None, status=200):
    context = await prompt_context(session, ctx, ref) if ref else {"prompt": None, "labels": {}}
    if not ref:
        context["protected"] = await service.protected_labels(session, ctx.org.id)
    try:
        fields = input_fields(load_yaml(text))
    except TenantryError:
        fields = []
    context |= {
        "text": text,
        "message": message,
        "problems": problems or [],
        "inputs_json": json.dumps(fields),
        "choices": label_choices(ctx, context["labels"], context["protected"]),
        "can_edit": ctx.can(P.PROMPTS_WRITE),
        "can_render": ctx.can(P.PROMPTS_RENDER),
    }
    return await org_render(request, session, ctx, "prompt_editor.html", context, status)


@router.get(BASE + "/new")
async def new_prompt(
    request: Request, ctx: OrgContext = page_requires(P.PROMPTS_WRITE), session=Depends(db_session)
):
    return await _editor(request, session, ctx, ref=None, text=STARTER)


def _chosen_labels(form: FormData) -> list[str]:
    chosen = [str(v) for v in form.getlist("labels") if str(v).strip()]
    extra = str(form.get("new_label", "") or "").strip()
    return list(dict.fromkeys([*chosen, *([extra] if extra else [])]))


async def _apply_labels(session, ctx, response, request, prompt_id: str, number: int, names):
    moved, refused = [], []
    for name in names:
        try:
            await service.move_label(session, ctx=ctx, ref=prompt_id, name=name, version=number)
            moved.append(name)
        except TenantryError as exc:
            await session.rollback()
            refused.append(f"{name}: {exc.detail}")
    if moved:
        flash.flash(response, request, f"Labels {', '.join(moved)} → version {number}.")
    for problem in refused:
        flash.flash(response, request, f"Label not moved — {problem}", "error")
    return response


@router.post(BASE + "/new")
async def create_prompt(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    text, message = str(form.get("yaml", "")), str(form.get("message", "") or "")
    try:
        spec = load_yaml(text)
        found, version, _ = await service.save(
            session, ctx=ctx, spec=spec, message=message, create_only=True
        )
    except TenantryError as exc:
        await session.rollback()
        problems = await _refused(session, ctx, text, exc)
        return await _editor(
            request,
            session,
            ctx,
            ref=None,
            text=text,
            message=message,
            problems=problems,
            status=exc.status,
        )
    response = redirect(f"{base(ctx)}/{found.slug}", request, f"Created {found.slug}, version 1.")
    labels = _chosen_labels(form)
    return await _apply_labels(session, ctx, response, request, found.id, version.number, labels)


@router.post(BASE + "/validate")
async def validate(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """The editor's check as you type: problems with lines, and the declared inputs (for the
    preview's form) when the YAML reads as a prompt."""
    text = str(form.get("yaml", ""))
    known = await parts.latest_contents(session, org_id=ctx.org.id)
    problems = document_lines(text, validate_yaml(text, known))
    try:
        fields = input_fields(load_yaml(text))
    except TenantryError:
        fields = None
    valid = not any(p.get("severity") == "error" for p in problems)
    return {"valid": valid, "problems": problems, "inputs": fields}


@router.post(BASE + "/preview")
async def preview(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_RENDER),
    session=Depends(db_session),
):
    """Render the unsaved YAML with these inputs and the parts' current versions."""
    from tenantry.prompts.inputs import coerce_inputs
    from tenantry.prompts.rendering import render_off_loop

    settings = settings_of(request)
    try:
        spec = load_yaml(str(form.get("yaml", "")))
        inputs = coerce_inputs(spec.inputs, exec_pages.form_inputs(form), allow_extra=True)
        known = await parts.latest_contents(session, org_id=ctx.org.id)
        rendered = await render_off_loop(settings, spec, inputs, known)
    except TenantryError as exc:
        return error_response(exc)
    return {"rendered": rendered.to_dict()}


# Parts, running, the log, the settings, versions: their paths must come before /prompts/{prompt}
# (parts first: a part may be named like a prompt page, e.g. "run").
router.include_router(part_pages.router)
router.include_router(exec_pages.router)
router.include_router(version_pages.router)


# --- one prompt: edit, versions, diff, labels ----------------------------------------------


@router.get(BASE + "/{prompt}")
async def edit_prompt(
    prompt: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """The newest version in the editor (``?from=N``: start from version N instead)."""
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    try:
        number = int(request.query_params.get("from", "") or found.latest_version)
    except ValueError:
        number = found.latest_version
    row = await service.get_version(session, prompt=found, number=number)
    text = dump_yaml(PromptSpec.model_validate(row.spec))
    return await _editor(request, session, ctx, ref=found.id, text=text)


@router.post(BASE + "/{prompt}")
async def save_prompt(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    """A new version when anything changed; the chosen labels then point at it."""
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    found_id, slug = found.id, found.slug  # a rollback expires the row
    text, message = str(form.get("yaml", "")), str(form.get("message", "") or "")
    try:
        spec = load_yaml(text)
        if spec.id != slug:
            raise ValidationFailed.field(
                "id",
                f"is '{spec.id}' but this prompt is '{slug}'; keep the id "
                "(to copy the prompt under another id, create a new prompt)",
            )
        saved, version, created = await service.save(session, ctx=ctx, spec=spec, message=message)
    except TenantryError as exc:
        await session.rollback()
        problems = await _refused(session, ctx, text, exc)
        return await _editor(
            request,
            session,
            ctx,
            ref=found_id,
            text=text,
            message=message,
            problems=problems,
            status=exc.status,
        )
    said = (
        f"Saved version {version.number}."
        if created
        else f"No changes; {saved.slug} is still version {version.number}."
    )
    response = redirect(f"{base(ctx)}/{saved.slug}", request, said)
    labels = _chosen_labels(form)
    return await _apply_labels(session, ctx, response, request, saved.id, version.number, labels)


@router.post(BASE + "/{prompt}/delete")
async def delete_prompt(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    await service.delete_prompt(session, ctx=ctx, ref=found.id)
    return redirect(base(ctx), request, f"Deleted {found.slug}; its executions stay in the log.")
