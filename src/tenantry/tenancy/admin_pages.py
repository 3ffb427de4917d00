"""HTML pages for an organization's admins: API keys, secrets, audit log, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.tenancy import api_keys, audit, org_secrets, service
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, keys_of, page_requires
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import SCOPES
from tenantry.tenancy.permissions import Permission as P
from tenantry.web import flash
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect

router = APIRouter(prefix="/o/{org}", include_in_schema=False)


# --- API keys -----------------------------------------------------------------------------


async def _keys_page(request, session, ctx, extra=None, status=200):
    params = PageParams(size=200)
    rows, total = await api_keys.list_keys(
        session, org=ctx.org, params=params, include_revoked=True
    )
    context = {"page": make_page(rows, total, params), "scopes": SCOPES, **(extra or {})}
    reveal = ("new_key", _keys_path(ctx))
    return await org_render(request, session, ctx, "api_keys.html", context, status, reveal)


def _keys_path(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}/api-keys"


@router.get("/api-keys")
async def keys_page(
    request: Request,
    ctx: OrgContext = page_requires(P.API_KEYS_MANAGE),
    session=Depends(db_session),
):
    return await _keys_page(request, session, ctx)


@router.post("/api-keys")
async def create_key(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.API_KEYS_MANAGE),
    session=Depends(db_session),
):
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    values = {
        "name": str(form.get("name", "")),
        "scopes": scopes,
        "expires_days": str(form.get("expires_days", "")),
    }
    try:
        expires_at = None
        if values["expires_days"]:
            try:
                days = int(values["expires_days"])
                if days < 1:
                    raise ValueError
            except ValueError:
                raise ValidationFailed.field(
                    "expires_days", "must be a whole number of days, 1 or more"
                ) from None
            expires_at = datetime.now(UTC) + timedelta(days=days)
        key, secret = await api_keys.create_key(
            session,
            ctx=ctx,
            keys=keys_of(request),
            name=values["name"],
            scopes=scopes,
            expires_at=expires_at,
        )
    except TenantryError as exc:
        await session.rollback()
        return await _keys_page(
            request, session, ctx, {"errors": errors_of(exc), "values": values}, exc.status
        )
    response = redirect(_keys_path(ctx))
    flash.reveal_once(response, {"name": key.name, "secret": secret}, _keys_path(ctx))
    return response


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(
    key_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.API_KEYS_MANAGE),
    session=Depends(db_session),
):
    key = await api_keys.revoke_key(session, ctx=ctx, key_id=key_id)
    return redirect(
        f"/o/{ctx.org.slug}/api-keys", request, f"Revoked “{key.name}”. It stopped working now."
    )


# --- secrets ------------------------------------------------------------------------------


async def _secrets_page(request, session, ctx, extra=None, status=200):
    params = PageParams(size=200)
    rows, total = await org_secrets.list_secrets(session, org=ctx.org, params=params)
    items = [org_secrets.secret_view(s) for s in rows]
    return await org_render(
        request,
        session,
        ctx,
        "secrets.html",
        {"page": make_page(items, total, params), **(extra or {})},
        status,
    )


@router.get("/secrets")
async def secrets_page(
    request: Request, ctx: OrgContext = page_requires(P.SECRETS_MANAGE), session=Depends(db_session)
):
    return await _secrets_page(request, session, ctx)


@router.post("/secrets")
async def set_secret(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    name, description = str(form.get("name", "")), str(form.get("description", ""))
    try:
        await org_secrets.set_secret(
            session, ctx=ctx, name=name, value=str(form.get("value", "")), description=description
        )
    except TenantryError as exc:
        await session.rollback()
        return await _secrets_page(
            request,
            session,
            ctx,
            {"errors": errors_of(exc), "values": {"name": name, "description": description}},
            exc.status,
        )
    return redirect(f"/o/{ctx.org.slug}/secrets", request, f"Saved secret {name}.")


@router.post("/secrets/{secret_id}/delete")
async def delete_secret(
    secret_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    await org_secrets.delete_secret(session, ctx=ctx, secret_id=secret_id)
    return redirect(f"/o/{ctx.org.slug}/secrets", request, "Secret deleted.")


# --- audit --------------------------------------------------------------------------------


@router.get("/audit")
async def audit_page(
    request: Request,
    action: str | None = Query(None),
    actor: str | None = Query(None),
    object_type: str | None = Query(None),
    ctx: OrgContext = page_requires(P.AUDIT_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    filters = {"action": action or None, "actor": actor or None, "object_type": object_type or None}
    rows, total = await audit.list_events(session, org_id=ctx.org.id, params=params, **filters)
    query = (
        urlencode({k: v for k, v in filters.items() if v}) + "&" if any(filters.values()) else ""
    )
    return await org_render(
        request,
        session,
        ctx,
        "audit.html",
        {"page": make_page(rows, total, params), "filters": filters, "base_query": query},
    )


# --- settings -----------------------------------------------------------------------------


async def _settings_page(request, session, ctx, extra=None, status=200):
    params = PageParams(size=200)
    rows, _ = await service.list_members(session, org=ctx.org, params=params)
    others = [m for m in rows if m.user_id != ctx.user.id]
    return await org_render(
        request, session, ctx, "settings.html", {"others": others, **(extra or {})}, status
    )


@router.get("/settings")
async def settings_page(
    request: Request, ctx: OrgContext = page_requires(P.ORG_UPDATE), session=Depends(db_session)
):
    return await _settings_page(request, session, ctx)


@router.post("/settings")
async def update_settings(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_UPDATE),
    session=Depends(db_session),
):
    values = {"name": str(form.get("name", "")), "slug": str(form.get("slug", ""))}
    try:
        org = await service.update_org(
            session, ctx=ctx, name=values["name"], slug=values["slug"] or None
        )
    except TenantryError as exc:
        await session.rollback()
        return await _settings_page(
            request, session, ctx, {"errors": errors_of(exc), "values": values}, exc.status
        )
    return redirect(f"/o/{org.slug}/settings", request, "Settings saved.")


@router.post("/settings/transfer")
async def transfer(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_TRANSFER),
    session=Depends(db_session),
):
    target = await service.transfer_ownership(
        session, ctx=ctx, member_id=str(form.get("member_id", ""))
    )
    return redirect(
        f"/o/{ctx.org.slug}/members",
        request,
        f"{target.user.email} is now an owner; you are an admin.",
    )


@router.post("/settings/delete")
async def delete_org(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_DELETE),
    session=Depends(db_session),
):
    if str(form.get("confirm", "")).strip() != ctx.org.slug:
        return await _settings_page(
            request,
            session,
            ctx,
            {"errors": {"confirm": f"type the slug '{ctx.org.slug}' to confirm"}},
            422,
        )
    await service.delete_org(session, ctx=ctx)
    return redirect("/orgs", request, f"Deleted {ctx.org.name}. You can restore it from this page.")


@router.post("/restore")
async def restore_org(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.ORG_DELETE, include_deleted=True),
    session=Depends(db_session),
):
    await service.restore_org(session, ctx=ctx)
    return redirect(f"/o/{ctx.org.slug}", request, f"Restored {ctx.org.name}.")
