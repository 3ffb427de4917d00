"""HTML: one prompt's versions — the history, any version read-only, side-by-side diffs, and
labels (move, roll back, remove, their history). The routes hang under ``pages.router``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.prompts import service
from tenantry.prompts.exec_pages import BASE, base, label_choices, may_move, prompt_context
from tenantry.prompts.spec import PromptSpec, dump_yaml, yaml_value
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect

router = APIRouter(include_in_schema=False)


@router.get(BASE + "/{prompt}/versions")
async def versions_page(
    prompt: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    """History, labels (move, roll back, remove) and every label move."""
    context = await prompt_context(session, ctx, prompt)
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    labels, protected = context["labels"], context["protected"]
    rows, total = await service.list_versions(session, prompt=found, params=params)
    moves, _ = await service.label_history(session, prompt=found, params=PageParams(size=50))
    items = [
        {
            "version": v.number,
            "message": v.message,
            "author": v.author,
            "created_at": v.created_at,
            "parts": v.parts,
            "labels": sorted(n for n, num in labels.items() if num == v.number),
        }
        for v in rows
    ]
    context |= {
        "history": make_page(items, total, params),
        "moves": moves,
        "choices": label_choices(ctx, labels, protected),
        "can_move": {n: may_move(ctx, n, protected) for n in labels},
        "can_rollback": may_move(ctx, service.DEFAULT_LABEL, protected),
        "numbers": list(range(found.latest_version, 0, -1)),
    }
    return await org_render(request, session, ctx, "prompt_versions.html", context)


@router.get(BASE + "/{prompt}/versions/{number}")
async def version_page(
    prompt: str,
    number: int,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    context = await prompt_context(session, ctx, prompt)
    found, row, _, labels = await service.resolve(
        session, org_id=ctx.org.id, ref=context["prompt"]["id"], version=number
    )
    context["v"] = service.version_view(found, row, labels=labels)
    return await org_render(request, session, ctx, "prompt_version.html", context)


def _is_text(change: dict[str, Any]) -> bool:
    values = [v for v in (change.get("before"), change.get("after")) if v is not None]
    if not values or not all(isinstance(v, str) for v in values):
        return False
    path = str(change.get("path", ""))
    return (
        path in ("template", "description") or path.endswith(".content") or "\n" in "".join(values)
    )


@router.get(BASE + "/{prompt}/diff")
async def diff_page(
    prompt: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """Side by side for texts (template, messages), a table for the rest (model, inputs…)."""
    from tenantry.prompts.diff import diff_parts, diff_specs, side_by_side

    context = await prompt_context(session, ctx, prompt)
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    try:
        to_n = int(request.query_params.get("to", "") or found.latest_version)
        from_n = int(request.query_params.get("from", "") or to_n - 1)
    except ValueError:
        raise ValidationFailed.field("from", "choose two version numbers") from None
    if from_n < 1:
        from_n = 1
    a = await service.get_version(session, prompt=found, number=from_n)
    b = await service.get_version(session, prompt=found, number=to_n)
    changes = diff_specs(a.spec, b.spec) + diff_parts(a.parts, b.parts)
    texts, others = [], []
    for c in changes:
        if _is_text(c):
            texts.append(c | {"rows": side_by_side(c.get("before") or "", c.get("after") or "")})
        else:
            shown = {
                k: None if c.get(k) is None else yaml_value(c.get(k)) for k in ("before", "after")
            }
            others.append(c | shown)
    a_yaml = dump_yaml(PromptSpec.model_validate(a.spec))
    b_yaml = dump_yaml(PromptSpec.model_validate(b.spec))
    context |= {
        "from_n": from_n,
        "to_n": to_n,
        "numbers": list(range(found.latest_version, 0, -1)),
        "texts": texts,
        "others": others,
        "whole": side_by_side(a_yaml, b_yaml),
    }
    return await org_render(request, session, ctx, "prompt_diff.html", context)


@router.post(BASE + "/{prompt}/labels")
async def move_label(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    """Point a label at a version; a rollback is this with an older version."""
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    to = f"{base(ctx)}/{found.slug}/versions"
    name = str(form.get("label", "") or "").strip() or str(form.get("new_label", "") or "").strip()
    before = (await service.labels_of(session, found)).get(name)
    try:
        try:
            number = int(str(form.get("version", "")))
        except ValueError:
            raise ValidationFailed.field("version", "choose the version it points at") from None
        await service.move_label(session, ctx=ctx, ref=found.id, name=name, version=number)
    except TenantryError as exc:
        await session.rollback()
        return redirect(to, request, f"Label not moved: {exc.detail}", "error")
    was = f" (was {before})" if before and before != number else ""
    return redirect(to, request, f"{name} now points at version {number}{was}.")


@router.post(BASE + "/{prompt}/labels/delete")
async def delete_label(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_WRITE),
    session=Depends(db_session),
):
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=prompt)
    to = f"{base(ctx)}/{found.slug}/versions"
    name = str(form.get("label", "") or "").strip()
    try:
        await service.delete_label(session, ctx=ctx, ref=found.id, name=name)
    except TenantryError as exc:
        await session.rollback()
        return redirect(to, request, f"Label not removed: {exc.detail}", "error")
    return redirect(to, request, f"Removed the label {name}.")
