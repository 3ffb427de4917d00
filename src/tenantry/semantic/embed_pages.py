"""HTML: embed tokens for the users of an organization's own app — mint one (shown once), the
signing keys (create: the secret shown once; revoke), and the snippets to use them with
``@cubejs-client/core`` or to sign tokens yourself. Admins only (``semantic:tokens``).

Its routes hang under ``pages.router`` (same ``/o/{org}`` prefix)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core import secrets
from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.semantic import service, tokens
from tenantry.semantic.runtime import runtime_of
from tenantry.semantic.schema import DataModel, ModelInvalid
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web import flash
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect

router = APIRouter(include_in_schema=False)
BASE = "/semantic/embed"
REVEAL_MAX_BYTES = 3800  # a cookie holds about 4 KB


def example_query(model: DataModel | None) -> dict[str, Any]:
    """A query for the snippet: the first view's or cube's first measure, by month of its
    first time dimension."""
    if model is None:
        return {"measures": ["orders.count"]}
    for view in model.views.values():
        measures = [n for n, m in view.members.items() if m.kind == "measure"]
        times = [
            n
            for n, m in view.members.items()
            if m.kind == "dimension"
            and (d := model.cubes[m.cube].dimensions.get(m.member))
            and d.type == "time"
        ]
        if view.public and measures:
            return _example(view.name, measures[0], times[0] if times else None)
    for cube in model.cubes.values():
        measures = [n for n, m in cube.measures.items() if m.public]
        times = [n for n, d in cube.dimensions.items() if d.type == "time" and d.public]
        if cube.public and measures:
            return _example(cube.name, measures[0], times[0] if times else None)
    return {"measures": ["orders.count"]}


def _example(name: str, measure: str, time: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"measures": [f"{name}.{measure}"]}
    if time:
        query["timeDimensions"] = [
            {"dimension": f"{name}.{time}", "granularity": "month", "dateRange": "last 12 months"}
        ]
    return query


async def _current_model(request: Request, session, ctx: OrgContext) -> DataModel | None:
    latest = await service.current(session, ctx.org.id)
    if latest is None:
        return None
    try:
        return service.compile_files(
            latest.files, latest.templates, settings_of(request).semantic_templates_dir
        )
    except (ModelInvalid, KeyError):
        return None


def _embed_path(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}{BASE}"


async def _embed(request, session, ctx, *, errors=None, values=None, revealed=None, status=200):
    settings = settings_of(request)
    keys = [tokens.key_view(k) for k in await tokens.list_keys(session, ctx=ctx)]
    query = example_query(await _current_model(request, session, ctx))
    context = {
        "keys": keys,
        "errors": errors or {},
        "values": values or {"claims": '{\n  "sub": "user-1"\n}', "expires_in": "3600"},
        "max_ttl": settings.semantic_token_max_ttl_seconds,
        "api_url": settings.base_url.rstrip("/") + "/cubejs-api/v1",
        "example_query_js": _js_object(query),
    }
    if revealed:
        context["revealed"] = revealed
    reveal = None if revealed else ("revealed", _embed_path(ctx))
    return await org_render(request, session, ctx, "semantic_embed.html", context, status, reveal)


def _js_object(value: Any) -> str:
    """The query as a JavaScript literal on one line: {measures: [...], ...}."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {_js_object(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_js_object(v) for v in value) + "]"
    return json.dumps(value).replace('"', "'")


@router.get(BASE)
async def embed(
    request: Request,
    ctx: OrgContext = page_requires(P.SEMANTIC_TOKENS),
    session=Depends(db_session),
):
    return await _embed(request, session, ctx)


def _reveal(request: Request, ctx: OrgContext, data: dict, message: str):
    response = redirect(_embed_path(ctx), request, message)
    flash.reveal_once(response, data, _embed_path(ctx))
    return response


def _claims(form: FormData) -> tuple[dict, int]:
    try:
        claims = json.loads(str(form.get("claims", "")).strip() or "{}")
    except json.JSONDecodeError as exc:
        raise ValidationFailed.field(
            "claims", f"not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(claims, dict):
        raise ValidationFailed.field("claims", 'must be a JSON object, like {"sub": "user-1"}')
    try:
        expires_in = int(str(form.get("expires_in", "")).strip() or 3600)
    except ValueError:
        raise ValidationFailed.field("expires_in", "must be a whole number of seconds") from None
    return claims, expires_in


@router.post(BASE + "/token")
async def mint_token(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SEMANTIC_TOKENS),
    session=Depends(db_session),
):
    values = {"claims": str(form.get("claims", "")), "expires_in": str(form.get("expires_in", ""))}
    try:
        claims, expires_in = _claims(form)
        minted = await tokens.mint(
            session,
            ctx=ctx,
            claims=claims,
            expires_in=expires_in,
            max_ttl=settings_of(request).semantic_token_max_ttl_seconds,
        )
    except TenantryError as exc:
        await session.rollback()
        errors = errors_of(exc)
        return await _embed(request, session, ctx, errors=errors, values=values, status=exc.status)
    expires = datetime.fromtimestamp(minted["expires_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    revealed = {"kind": "token", "token": minted["token"], "kid": minted["kid"], "expires": expires}
    if len(secrets.encrypt(revealed)) > REVEAL_MAX_BYTES:
        # Too big to carry across a redirect in a cookie: shown on this answer instead.
        return await _embed(request, session, ctx, values=values, revealed=revealed)
    return _reveal(request, ctx, revealed, "Token minted.")


@router.post(BASE + "/keys")
async def create_key(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SEMANTIC_TOKENS),
    session=Depends(db_session),
):
    key, secret = await tokens.create_key(session, ctx=ctx, label=str(form.get("label", "")))
    view = tokens.key_view(key)
    revealed = {"kind": "key", "kid": view["kid"], "label": key.label, "secret": secret}
    return _reveal(request, ctx, revealed, "Signing key created.")


@router.post(BASE + "/keys/{signing_key_id}/revoke")
async def revoke_key(
    signing_key_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.SEMANTIC_TOKENS),
    session=Depends(db_session),
):
    key = await tokens.revoke_key(session, ctx=ctx, key_id=signing_key_id)
    runtime_of(request.app).keys.drop(tokens.KID_PREFIX + key.id)
    return redirect(
        _embed_path(ctx), request, f"Revoked {tokens.KID_PREFIX}{key.id}; its tokens stop working."
    )
