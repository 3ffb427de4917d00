"""An organization's LLM providers (keys encrypted, write-only, masked) and price overrides,
and the one way other domains get a client: ``client_for_org``."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import unique_or_conflict, utcnow
from tenantry.core.errors import NotFound, TenantryError, ValidationFailed
from tenantry.core.secrets import mask
from tenantry.llm import pricing
from tenantry.llm.models import LLMProvider, ModelPrice
from tenantry.llm.types import PROVIDER_KINDS, ChatClient, ProviderConfig
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext

log = logging.getLogger("tenantry.llm")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def provider_view(p: LLMProvider) -> dict[str, Any]:
    secrets = p.secrets or {}
    return {
        "id": p.id,
        "name": p.name,
        "kind": p.kind,
        "base_url": p.base_url,
        "effective_base_url": p.base_url or DEFAULT_URLS.get(p.kind, ""),
        "default_model": p.default_model,
        "is_default": p.is_default,
        "timeout_seconds": (p.options or {}).get("timeout_seconds"),
        "api_version": (p.options or {}).get("api_version", ""),
        "api_key": mask(secrets.get("api_key")),
        "headers": {k: "********" for k in (secrets.get("headers") or {})},
        "last_tested_at": p.last_tested_at,
        "last_test_ok": p.last_test_ok,
        "last_test_message": p.last_test_message,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def _check_base_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValidationFailed.field("base_url", "has a port that is not 1-65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.field(
            "base_url", "must be an http(s) URL such as https://api.openai.com/v1"
        )
    return url


def _guard_host(url: str, settings: Settings) -> None:
    """Provider URLs are tenant input: the platform's own network is off limits unless the
    operator allows it (TENANTRY_ALLOWED_PRIVATE_NETWORKS), exactly as for connections."""
    from tenantry.connections.netguard import resolve_allowed

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolve_allowed(
        parts.hostname or "", port, allowed=settings.allowed_private_networks, field="base_url"
    )


async def list_providers(session: AsyncSession, *, org_id: str) -> list[LLMProvider]:
    rows = await session.scalars(
        sa.select(LLMProvider).where(LLMProvider.org_id == org_id).order_by(LLMProvider.name)
    )
    return list(rows)


async def get_provider(session: AsyncSession, *, org_id: str, provider_id: str) -> LLMProvider:
    found = await session.scalar(
        sa.select(LLMProvider).where(
            LLMProvider.org_id == org_id,
            sa.or_(LLMProvider.id == provider_id, LLMProvider.name == provider_id),
        )
    )
    if found is None:
        raise NotFound(f"There is no LLM provider '{provider_id}' in this organization.")
    return found


def _apply(p: LLMProvider, data: dict[str, Any], settings: Settings) -> None:
    if "name" in data:
        name = (data["name"] or "").strip()
        if not NAME_RE.match(name):
            raise ValidationFailed.field(
                "name", "use lowercase letters, digits, - and _ (up to 64), e.g. openai or local"
            )
        p.name = name
    if "kind" in data:
        if data["kind"] not in PROVIDER_KINDS:
            raise ValidationFailed.field("kind", f"choose one of {', '.join(PROVIDER_KINDS)}")
        p.kind = data["kind"]
    if "base_url" in data:
        p.base_url = _check_base_url(data["base_url"] or "")
        if p.base_url:
            _guard_host(p.base_url, settings)
    if "default_model" in data:
        p.default_model = (data["default_model"] or "").strip()[:200]
    options = dict(p.options or {})
    for key in ("timeout_seconds", "api_version"):
        if key in data:
            if data[key] in (None, ""):
                options.pop(key, None)
            else:
                options[key] = data[key]
    p.options = options
    secrets = dict(p.secrets or {})
    if data.get("api_key") is not None:  # write-only: omitted or null keeps the stored key
        secrets["api_key"] = data["api_key"]
    if data.get("headers") is not None:
        secrets["headers"] = {str(k): str(v) for k, v in data["headers"].items()}
    p.secrets = secrets


async def _unset_other_defaults(session: AsyncSession, org_id: str, keep_id: str) -> None:
    await session.execute(
        sa.update(LLMProvider)
        .where(LLMProvider.org_id == org_id, LLMProvider.id != keep_id)
        .values(is_default=False)
    )


async def create_provider(
    session: AsyncSession, *, ctx: OrgContext, data: dict[str, Any], settings: Settings
) -> LLMProvider:
    for required in ("name", "kind"):
        if not data.get(required):
            raise ValidationFailed.field(required, "is required")
    p = LLMProvider(org_id=ctx.org.id, secrets={}, options={})
    _apply(p, data, settings)
    existing = await list_providers(session, org_id=ctx.org.id)
    p.is_default = bool(data.get("is_default")) or not existing
    session.add(p)
    async with unique_or_conflict(session, "name", f"A provider named {p.name} already exists."):
        await session.flush()
    if p.is_default:
        await _unset_other_defaults(session, ctx.org.id, p.id)
    audit.log(session, ctx, "llm_provider.create", "llm_provider", p.id, after=_audit(p))
    await session.commit()
    await session.refresh(p)
    return p


async def update_provider(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    provider_id: str,
    data: dict[str, Any],
    settings: Settings,
) -> LLMProvider:
    p = await get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    before = _audit(p)
    _apply(p, data, settings)
    async with unique_or_conflict(session, "name", f"A provider named {p.name} already exists."):
        await session.flush()
    if data.get("is_default"):
        p.is_default = True
        await _unset_other_defaults(session, ctx.org.id, p.id)
    audit.log(
        session, ctx, "llm_provider.update", "llm_provider", p.id, before=before, after=_audit(p)
    )
    await session.commit()
    await session.refresh(p)
    return p


async def delete_provider(session: AsyncSession, *, ctx: OrgContext, provider_id: str) -> None:
    p = await get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    audit.log(session, ctx, "llm_provider.delete", "llm_provider", p.id, before=_audit(p))
    await session.delete(p)
    await session.commit()


def _audit(p: LLMProvider) -> dict[str, Any]:
    view = provider_view(p)
    return {k: view[k] for k in ("name", "kind", "base_url", "default_model", "api_key")}


def config_of(p: LLMProvider, settings: Settings) -> ProviderConfig:
    secrets = p.secrets or {}
    options = p.options or {}
    return ProviderConfig(
        kind=p.kind,
        name=p.name,
        api_key=secrets.get("api_key") or "",
        base_url=p.base_url,
        default_model=p.default_model,
        timeout_seconds=float(options.get("timeout_seconds") or settings.llm_timeout_seconds),
        max_retries=settings.llm_max_retries,
        headers=dict(secrets.get("headers") or {}),
        api_version=options.get("api_version") or "",
    )


async def resolve_provider(session: AsyncSession, *, org_id: str, name: str | None) -> LLMProvider:
    """The named provider, or the organization's default when no name is given."""
    if name:
        return await get_provider(session, org_id=org_id, provider_id=name)
    found = await session.scalar(
        sa.select(LLMProvider)
        .where(LLMProvider.org_id == org_id)
        .order_by(LLMProvider.is_default.desc(), LLMProvider.created_at)
        .limit(1)
    )
    if found is None:
        raise ValidationFailed.field(
            "model.provider",
            "this organization has no LLM provider; add one under Settings → LLM providers",
        )
    return found


async def client_for(p: LLMProvider, settings: Settings) -> ChatClient:
    from tenantry.llm.clients import client_for as make
    from tenantry.llm.netpin import PinnedTransport

    # Every call resolves and checks the host and connects to the checked address.
    return make(
        config_of(p, settings),
        transport=PinnedTransport(allowed=settings.allowed_private_networks),
    )


async def test_provider(
    session: AsyncSession, *, ctx: OrgContext, provider_id: str, settings: Settings
) -> dict[str, Any]:
    """List the provider's models with the stored key: proves the URL and key work. The outcome
    is kept on the entry; the key never appears in it."""
    p = await get_provider(session, org_id=ctx.org.id, provider_id=provider_id)
    ok, models, message = False, [], ""
    try:
        client = await client_for(p, settings)
        try:
            models = await client.list_models()
        finally:
            await client.aclose()
        ok = True
        message = f"Connected; {len(models)} model(s) available."
        if p.default_model and models and p.default_model not in models:
            message += f" The default model '{p.default_model}' is not among them."
    except TenantryError as exc:
        message = exc.detail
    p.last_tested_at = utcnow()
    p.last_test_ok = ok
    p.last_test_message = message[:1000]
    await session.commit()
    return {"ok": ok, "message": message, "models": models[:200]}


# --- prices ------------------------------------------------------------------------------------


async def org_prices(session: AsyncSession, *, org_id: str) -> dict[str, pricing.Price]:
    rows = await session.scalars(sa.select(ModelPrice).where(ModelPrice.org_id == org_id))
    return {
        r.model: pricing.Price(r.input_per_mtok, r.output_per_mtok, "organization") for r in rows
    }


async def price_for(session: AsyncSession, *, org_id: str, model: str) -> pricing.Price | None:
    price = pricing.lookup(model, await org_prices(session, org_id=org_id))
    if price is None:
        log.warning("no price for model %r: its cost is recorded as unknown", model)
    return price


async def list_prices(session: AsyncSession, *, org_id: str) -> list[dict[str, Any]]:
    overrides = await org_prices(session, org_id=org_id)
    rows = {
        m: {
            "model": m,
            "input_per_mtok": p.input_per_mtok,
            "output_per_mtok": p.output_per_mtok,
            "source": p.source,
        }
        for m, p in pricing.shipped().items()
    }
    ids = {
        r.model: r.id
        for r in await session.scalars(sa.select(ModelPrice).where(ModelPrice.org_id == org_id))
    }
    for m, p in overrides.items():
        rows[m] = {
            "model": m,
            "input_per_mtok": p.input_per_mtok,
            "output_per_mtok": p.output_per_mtok,
            "source": "organization",
            "id": ids[m],
        }
    return sorted(rows.values(), key=lambda r: (r["source"] != "organization", r["model"]))


async def set_price(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
) -> ModelPrice:
    model = (model or "").strip()
    if not model or len(model) > 200:
        raise ValidationFailed.field("model", "is required (up to 200 characters)")
    for field, value in (("input_per_mtok", input_per_mtok), ("output_per_mtok", output_per_mtok)):
        if value is None or value < 0:
            raise ValidationFailed.field(field, "must be a price in USD per 1M tokens, ≥ 0")
    row = await session.scalar(
        sa.select(ModelPrice).where(ModelPrice.org_id == ctx.org.id, ModelPrice.model == model)
    )
    if row is None:
        row = ModelPrice(org_id=ctx.org.id, model=model)
        session.add(row)
    row.input_per_mtok = float(input_per_mtok)
    row.output_per_mtok = float(output_per_mtok)
    async with unique_or_conflict(session, "model", f"A price for {model} was set meanwhile."):
        await session.flush()
    audit.log(
        session,
        ctx,
        "llm_price.set",
        "llm_price",
        row.id,
        after={
            "model": model,
            "input_per_mtok": input_per_mtok,
            "output_per_mtok": output_per_mtok,
        },
    )
    await session.commit()
    await session.refresh(row)
    return row


async def delete_price(session: AsyncSession, *, ctx: OrgContext, price_id: str) -> None:
    row = await session.scalar(
        sa.select(ModelPrice).where(ModelPrice.org_id == ctx.org.id, ModelPrice.id == price_id)
    )
    if row is None:
        raise NotFound("There is no such price override in this organization.")
    audit.log(session, ctx, "llm_price.delete", "llm_price", row.id, before={"model": row.model})
    await session.delete(row)
    await session.commit()
