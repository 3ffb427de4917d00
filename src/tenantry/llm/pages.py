"""HTML: an organization's LLM providers (keys write-only: shown only as set or not set) with a
connection test, and the model prices used for costs (shipped, and the organization's own)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.llm import service
from tenantry.llm.types import PROVIDER_KINDS
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect, register_templates

register_templates(Path(__file__).parent / "templates")
register(NavItem("llm", "LLM providers", "/llm", "Settings", P.PROMPTS_READ.value))
router = APIRouter(prefix="/o/{org}", include_in_schema=False)
BASE = "/llm"
# Typed back into the form after a refusal; the key never is.
FIELDS = ("kind", "name", "base_url", "default_model", "timeout_seconds", "api_version")


def _path(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}{BASE}"


async def _page(request, session, ctx, *, errors=None, values=None, price_errors=None, status=200):
    providers = await service.list_providers(session, org_id=ctx.org.id)
    context = {
        "providers": [service.provider_view(p) for p in providers],
        "prices": await service.list_prices(session, org_id=ctx.org.id),
        "kinds": PROVIDER_KINDS,
        "default_urls": service.DEFAULT_URLS,
        "errors": errors or {},
        "values": values or {"kind": "openai", "is_default": not providers},
        "price_errors": price_errors or {},
        "can_manage": ctx.can(P.LLM_MANAGE),
    }
    return await org_render(request, session, ctx, "llm_providers.html", context, status)


@router.get(BASE)
async def providers_page(
    request: Request,
    ctx: OrgContext = page_requires(P.PROMPTS_READ),
    session=Depends(db_session),
):
    return await _page(request, session, ctx)


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines; the values are secrets and never shown in an error."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.match(name.strip()) or not value.strip():
            raise ValidationFailed.field(
                "headers", f"line {number} is not `Name: value` (one header per line)"
            )
        out[name.strip()] = value.strip()
    return out


def _data(form: FormData, *, creating: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the service gets, what the form shows again). A blank key keeps the stored one."""
    typed: dict[str, Any] = {k: str(form.get(k, "") or "").strip() for k in FIELDS}
    typed["is_default"] = form.get("is_default") is not None
    data: dict[str, Any] = {k: typed[k] for k in FIELDS if k != "timeout_seconds"}
    data["timeout_seconds"] = None
    if typed["timeout_seconds"]:
        try:
            data["timeout_seconds"] = float(typed["timeout_seconds"])
        except ValueError:
            raise ValidationFailed.field("timeout_seconds", "must be a number of seconds") from None
        if not 0 < data["timeout_seconds"] <= 600:
            raise ValidationFailed.field("timeout_seconds", "must be between 0 and 600 seconds")
    key = str(form.get("api_key", "") or "")
    if key.strip():
        data["api_key"] = key.strip()
    elif form.get("clear_api_key") is not None and not creating:
        data["api_key"] = ""
    headers = _headers(str(form.get("headers", "") or ""))
    if headers:
        data["headers"] = headers
    elif form.get("clear_headers") is not None and not creating:
        data["headers"] = {}
    if creating or typed["is_default"]:
        data["is_default"] = typed["is_default"]
    return data, typed


@router.post(BASE + "/providers")
async def create_provider(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    typed: dict[str, Any] = {}
    try:
        data, typed = _data(form, creating=True)
        p = await service.create_provider(
            session, ctx=ctx, data=data, settings=settings_of(request)
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        return await _page(request, session, ctx, errors=errors, values=typed, status=exc.status)
    return redirect(_path(ctx), request, f"Added provider {p.name}. Test it to check the key.")


async def _edit(request, session, ctx, provider_id, *, errors=None, values=None, status=200):
    p = await service.get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    view = service.provider_view(p)
    shown = values
    if shown is None:
        shown = {k: "" if view.get(k) is None else str(view[k]) for k in FIELDS}
        shown["is_default"] = view["is_default"]
    context = {
        "p": view,
        "kinds": PROVIDER_KINDS,
        "default_urls": service.DEFAULT_URLS,
        "errors": errors or {},
        "values": shown,
    }
    return await org_render(request, session, ctx, "llm_provider.html", context, status)


@router.get(BASE + "/providers/{provider_id}")
async def edit_provider(
    provider_id: str,
    request: Request,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    return await _edit(request, session, ctx, provider_id)


@router.post(BASE + "/providers/{provider_id}")
async def update_provider(
    provider_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    found = await service.get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    found_id = found.id  # a rollback expires the row
    typed: dict[str, Any] = {}
    try:
        data, typed = _data(form, creating=False)
        p = await service.update_provider(
            session, ctx=ctx, provider_id=found_id, data=data, settings=settings_of(request)
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        return await _edit(
            request, session, ctx, found_id, errors=errors, values=typed, status=exc.status
        )
    return redirect(_path(ctx), request, f"Saved provider {p.name}.")


@router.post(BASE + "/providers/{provider_id}/delete")
async def delete_provider(
    provider_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    found = await service.get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    name = found.name
    await service.delete_provider(session, ctx=ctx, provider_id=found.id)
    return redirect(_path(ctx), request, f"Deleted provider {name}.")


@router.post(BASE + "/providers/{provider_id}/test")
async def test_provider(
    provider_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    """List the provider's models with the stored URL and key; nothing is billed."""
    found = await service.get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    result = await service.test_provider(
        session, ctx=ctx, provider_id=found.id, settings=settings_of(request)
    )
    kind = "success" if result["ok"] else "error"
    return redirect(_path(ctx), request, f"{found.name}: {result['message']}", kind)


@router.post(BASE + "/prices")
async def set_price(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    """Set (or replace) this organization's price for a model, in USD per 1M tokens."""
    typed = {k: str(form.get(k, "") or "").strip() for k in ("model", "input", "output")}
    try:
        prices = []
        for key in ("input", "output"):
            try:
                prices.append(float(typed[key]))
            except ValueError:
                msg = "must be a price in USD per 1M tokens, such as 0.15"
                raise ValidationFailed.field(f"{key}_per_mtok", msg) from None
        row = await service.set_price(
            session,
            ctx=ctx,
            model=typed["model"],
            input_per_mtok=prices[0],
            output_per_mtok=prices[1],
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc) | {"_values": typed}
        return await _page(request, session, ctx, price_errors=errors, status=exc.status)
    return redirect(_path(ctx) + "#prices", request, f"Price for {row.model} saved.")


@router.post(BASE + "/prices/{price_id}/delete")
async def delete_price(
    price_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.LLM_MANAGE),
    session=Depends(db_session),
):
    await service.delete_price(session, ctx=ctx, price_id=price_id)
    return redirect(_path(ctx) + "#prices", request, "Price override removed.")
