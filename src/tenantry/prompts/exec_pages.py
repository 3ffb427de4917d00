"""HTML: running a prompt (the panel streams the answer), the execution log with its totals, and
the registry's settings and quotas — plus the helpers every prompt page shares. The routes hang
under ``pages.router`` (same ``/o/{org}`` prefix), before its ``/prompts/{prompt}`` routes; the
fixed paths (log, settings) come first here too.

The browser calls the JSON and event-stream routes here with its session: a POST of a form that
carries the CSRF token (``verified_form``), like the semantic editor's live check. Their refusals
are problem-details JSON, so the page can show them where they happened."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.http import error_response, event_stream
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.llm import service as llm
from tenantry.prompts import execute, executions, quotas, rendering, service
from tenantry.prompts.spec import PromptSpec
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect

router = APIRouter(include_in_schema=False)
BASE = "/prompts"


# --- shared by the prompt pages ------------------------------------------------------------


def base(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}{BASE}"


def input_fields(spec: PromptSpec | None) -> list[dict[str, Any]]:
    """The declared inputs as the page's input form is generated from them."""
    if spec is None:
        return []
    return jsonable_encoder(
        [
            {
                "name": name,
                "type": i.type,
                "description": i.description,
                "required": i.is_required,
                "default": i.default,
                "values": i.values,
                "items": i.items.type if i.items is not None else None,
                "minimum": i.minimum,
                "maximum": i.maximum,
            }
            for name, i in spec.inputs.items()
        ]
    )


def form_inputs(form: FormData) -> dict[str, Any]:
    """The ``inputs`` field: a JSON object of name → value (as the generated form sends it)."""
    raw = str(form.get("inputs", "") or "").strip() or "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValidationFailed.field("inputs", "must be a JSON object of name → value") from None
    if not isinstance(value, dict):
        raise ValidationFailed.field("inputs", "must be a JSON object of name → value")
    return value


def parse_target(raw: str) -> tuple[str | None, int | None]:
    """``label:staging`` or ``version:3`` (the run panel's choice); empty: the default label."""
    kind, _, value = (raw or "").partition(":")
    if kind == "version":
        try:
            return None, int(value)
        except ValueError:
            raise ValidationFailed.field("version", "must be a version number") from None
    if kind == "label" and value:
        return value, None
    return None, None


def may_move(ctx: OrgContext, label: str, protected: list[str]) -> bool:
    """Whether this user may point ``label`` somewhere (protected labels need an admin)."""
    if label == service.LATEST or not ctx.can(P.PROMPTS_WRITE):
        return False
    return label not in protected or ctx.can(P.PROMPTS_ADMIN)


def label_choices(ctx: OrgContext, labels: dict[str, int], protected: list[str]) -> list[dict]:
    names = sorted((set(labels) | {"staging", service.DEFAULT_LABEL}) - {service.LATEST})
    return [
        {"name": n, "protected": n in protected, "allowed": may_move(ctx, n, protected)}
        for n in names
    ]


async def prompt_context(session, ctx: OrgContext, ref: str) -> dict[str, Any]:
    """What every page of one prompt shows in its head: the prompt, its labels, the locks."""
    found = await service.find_prompt(session, org_id=ctx.org.id, ref=ref)
    labels = await service.labels_of(session, found)
    return {
        "prompt": service.prompt_view(found, labels),
        "labels": labels,
        "protected": await service.protected_labels(session, ctx.org.id),
    }


# --- the execution log ---------------------------------------------------------------------


def _filters_of(request: Request) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The log's filters from the query string: (values for the service, as typed, errors)."""
    q = request.query_params
    typed = {k: q.get(k, "").strip() for k in ("prompt", "version", "model", "status")}
    typed |= {k: q.get(k, "").strip() for k in ("since", "until")}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"model": typed["model"] or None, "version": None}
    if typed["status"] in executions.STATUSES:
        values["status"] = typed["status"]
    if typed["version"]:
        try:
            values["version"] = int(typed["version"])
        except ValueError:
            errors["version"] = "a version number, such as 3"
    for key in ("since", "until"):
        values[key] = None
        if typed[key]:
            try:
                values[key] = date.fromisoformat(typed[key])
            except ValueError:
                errors[key] = "a date, such as 2025-01-31"
    return values, typed, errors


@router.get(BASE + "/executions")
async def executions_page(
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    values, typed, errors = _filters_of(request)
    try:
        values["prompt_id"] = await executions.prompt_id_of(
            session, org_id=ctx.org.id, ref=typed["prompt"] or None
        )
    except TenantryError as exc:
        errors["prompt"], values["prompt_id"] = exc.detail, None
    rows, total = await executions.list_executions(
        session, org_id=ctx.org.id, params=params, **values
    )
    by_prompt = await executions.totals(session, org_id=ctx.org.id, by="prompt", **values)
    by_day = await executions.totals(session, org_id=ctx.org.id, by="day", **values)
    prompts, _ = await service.list_prompts(session, org_id=ctx.org.id, params=PageParams(size=200))
    context = {
        "page": make_page([executions.execution_view(e) for e in rows], total, params),
        "filters": typed,
        "errors": errors,
        "query": urlencode({k: v for k, v in typed.items() if v}),
        "by_prompt": by_prompt,
        "by_day": by_day,
        "prompt_slugs": [p.slug for p in prompts],
        "statuses": executions.STATUSES,
    }
    return await org_render(request, session, ctx, "prompt_executions.html", context)


@router.get(BASE + "/executions/{execution_id}")
async def execution_page(
    execution_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    found = await executions.get_execution(session, org_id=ctx.org.id, execution_id=execution_id)
    view = executions.execution_view(found)
    context = {
        "e": view,
        "inputs_json": json.dumps(view["inputs"], indent=2, ensure_ascii=False, default=str),
        "tool_calls_json": [
            json.dumps(c, indent=2, ensure_ascii=False, default=str) for c in view["tool_calls"]
        ],
    }
    return await org_render(request, session, ctx, "prompt_execution.html", context)


# --- settings and quotas -------------------------------------------------------------------


async def _settings_page(request, session, ctx, *, errors=None, values=None, status=200):
    current = quotas.settings_view(await quotas.settings_row(session, ctx.org.id))
    usage = await quotas.usage(session, org_id=ctx.org.id)
    limit = usage["tokens_limit"]
    held = usage["tokens_used"] + usage["tokens_reserved"]
    spend_limit = usage["spend_limit_usd"]
    spent = usage["spend_used_usd"] + usage["spend_reserved_usd"]
    shown = values or {
        "monthly_token_limit": _blank(current["monthly_token_limit"]),
        "monthly_spend_limit_usd": _blank(current["monthly_spend_limit_usd"]),
        "protected_labels": ", ".join(current["protected_labels"]),
        "store_inputs": current["store_inputs"],
        "retention_days": _blank(current["retention_days"]),
    }
    context = {
        "current": current,
        "usage": usage,
        "token_pct": min(100, round(held * 100 / limit)) if limit else None,
        "spend_pct": min(100, round(spent * 100 / spend_limit)) if spend_limit else None,
        "default_retention": settings_of(request).prompt_execution_retention_days,
        "errors": errors or {},
        "values": shown,
        "can_admin": ctx.can(P.PROMPTS_ADMIN),
    }
    return await org_render(request, session, ctx, "prompt_settings.html", context, status)


def _blank(value: Any) -> str:
    return "" if value is None else str(value)


@router.get(BASE + "/settings")
async def settings_page(
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    return await _settings_page(request, session, ctx)


def _number(form: FormData, name: str, kind: type, what: str) -> int | float | None:
    raw = str(form.get(name, "") or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValidationFailed.field(name, f"must be {what}, or empty for none") from None


@router.post(BASE + "/settings")
async def save_settings(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_ADMIN),
    session=Depends(db_session),
):
    typed = {k: str(form.get(k, "") or "") for k in ("monthly_token_limit", "retention_days")}
    typed |= {
        k: str(form.get(k, "") or "") for k in ("monthly_spend_limit_usd", "protected_labels")
    }
    typed["store_inputs"] = form.get("store_inputs") is not None
    labels = [s.strip() for s in typed["protected_labels"].replace("\n", ",").split(",")]
    try:
        data = {
            "monthly_token_limit": _number(form, "monthly_token_limit", int, "a whole number"),
            "monthly_spend_limit_usd": _number(form, "monthly_spend_limit_usd", float, "an amount"),
            "retention_days": _number(form, "retention_days", int, "a number of days"),
            "protected_labels": [s for s in labels if s],
            "store_inputs": typed["store_inputs"],
        }
        await quotas.update_settings(session, ctx=ctx, data=data)
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        if "label" in errors:  # a bad protected label name
            errors["protected_labels"] = errors.pop("label")
        return await _settings_page(
            request, session, ctx, errors=errors, values=typed, status=exc.status
        )
    return redirect(base(ctx) + "/settings", request, "Settings saved.")


# --- the run panel -------------------------------------------------------------------------


@router.get(BASE + "/{prompt}/run")
async def run_page(
    prompt: str,
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    """Choose a label or version, fill its inputs, optionally override the model, and run."""
    context = await prompt_context(session, ctx, prompt)
    labels = context["labels"]
    target = request.query_params.get("target", "")
    label, version = parse_target(target)
    if label is None and version is None:
        label = service.DEFAULT_LABEL if service.DEFAULT_LABEL in labels else service.LATEST
    found, row, resolved, _ = await service.resolve(
        session, org_id=ctx.org.id, ref=context["prompt"]["id"], label=label, version=version
    )
    spec = PromptSpec.model_validate(row.spec)
    versions, _ = await service.list_versions(session, prompt=found, params=PageParams(size=200))
    limits = await quotas.settings_row(session, ctx.org.id)
    providers = [llm.provider_view(p) for p in await llm.list_providers(session, org_id=ctx.org.id)]
    context |= {
        "target": f"label:{resolved}" if resolved else f"version:{row.number}",
        "version": row.number,
        "resolved": resolved,
        "versions": [v.number for v in versions],
        "spec_model": spec.model.model_dump(exclude_none=True),
        "inputs_json": json.dumps(input_fields(spec)),
        "providers": providers,
        "store_inputs": limits.store_inputs is not False,
        "can_execute": ctx.can(P.PROMPTS_EXECUTE),
    }
    return await org_render(request, session, ctx, "prompt_run.html", context)


def _model_override(form: FormData) -> dict[str, Any]:
    from pydantic import ValidationError

    from tenantry.prompts.schemas import ModelOverride

    raw = {k: str(form.get(k, "") or "").strip() for k in ("provider", "model")}
    raw |= {k: str(form.get(k, "") or "").strip() for k in ("temperature", "max_tokens", "top_p")}
    stop = [s.strip() for s in str(form.get("stop", "") or "").split(",") if s.strip()]
    chosen_raw: dict[str, Any] = {k: v for k, v in raw.items() if v}
    if stop:
        chosen_raw["stop"] = stop
    try:
        chosen = ModelOverride.model_validate(chosen_raw)
    except ValidationError as exc:
        raise ValidationFailed.nested(exc, "model") from None
    return chosen.model_dump(exclude_none=True)


@router.post(BASE + "/{prompt}/execute")
async def execute_prompt(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_EXECUTE),
    session=Depends(db_session),
):
    """The run panel's call: server-sent events (``start``, ``text``, ``tool_call``, then
    ``done`` or ``error``), or a problem (422, 404, 429 quota) before anything is called."""
    settings, db = settings_of(request), request.app.state.db
    store = form.get("store_inputs")
    try:
        label, version = parse_target(str(form.get("target", "")))
        options = execute.ExecuteOptions(
            inputs=form_inputs(form),
            label=label,
            version=version,
            model=_model_override(form),
            store_inputs=None if store is None else str(store) in ("true", "1", "on"),
        )
        prepared = await execute.prepare(
            session, db, settings, ctx=ctx, ref=prompt, options=options
        )
    except TenantryError as exc:
        await session.rollback()
        return error_response(exc)
    return event_stream(
        execute.stream(db, settings, prepared),
        after=lambda: execute.release(
            db, settings, prepared, "The client left before the answer began."
        ),
    )


@router.post(BASE + "/{prompt}/render")
async def render_prompt(
    prompt: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.PROMPTS_RENDER),
    session=Depends(db_session),
):
    """The run panel's preview: the chosen version rendered with these inputs; nothing called."""
    try:
        label, version = parse_target(str(form.get("target", "")))
        found = await rendering.render_stored(
            session,
            settings_of(request),
            org_id=ctx.org.id,
            ref=prompt,
            label=label,
            version=version,
            inputs=form_inputs(form),
        )
    except TenantryError as exc:
        await session.rollback()
        return error_response(exc)
    return {"version": found.version, "label": found.label, "rendered": found.rendered.to_dict()}
