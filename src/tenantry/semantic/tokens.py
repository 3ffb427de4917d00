"""Signing keys and embed tokens: HS256 JWTs, as Cube's API expects, one secret per organization.

A token names its key in the ``kid`` header; the key belongs to exactly one organization, so
the organization comes from the key, never from a claim a token holder could choose. The whole
payload becomes the security context.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core import secrets as box
from tenantry.core.db import utcnow
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.semantic.models import SigningKey
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext

KID_PREFIX = "sk_"
RESERVED_CLAIMS = ("exp", "iat", "nbf", "org", "kid")


def key_view(k: SigningKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "kid": KID_PREFIX + k.id,
        "label": k.label,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
        "secret": "••••••••",
    }


async def list_keys(session: AsyncSession, *, ctx: OrgContext) -> list[SigningKey]:
    stmt = (
        sa.select(SigningKey)
        .where(SigningKey.org_id == ctx.org.id)
        .order_by(SigningKey.created_at.desc())
    )
    return list(await session.scalars(stmt))


async def create_key(session: AsyncSession, *, ctx: OrgContext, label: str = "") -> tuple:
    """A new signing key; its secret is returned this once (for an app that signs its own
    tokens, like CUBEJS_API_SECRET)."""
    secret = secrets.token_urlsafe(48)
    key = SigningKey(
        org_id=ctx.org.id,
        secret_enc=box.encrypt(secret),
        label=label.strip()[:200],
        created_by_id=ctx.caller.user.id if ctx.caller.user else None,
    )
    session.add(key)
    await session.flush()
    audit.log(session, ctx, "semantic_key.create", "semantic_key", key.id, after={"label": label})
    await session.commit()
    await session.refresh(key)
    return key, secret


async def revoke_key(session: AsyncSession, *, ctx: OrgContext, key_id: str) -> SigningKey:
    key = await session.scalar(
        sa.select(SigningKey).where(
            SigningKey.id == key_id.removeprefix(KID_PREFIX), SigningKey.org_id == ctx.org.id
        )
    )
    if key is None:
        raise NotFound("There is no such signing key.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.log(session, ctx, "semantic_key.revoke", "semantic_key", key.id)
        await session.commit()
        await session.refresh(key)
    return key


async def _active_key(session: AsyncSession, ctx: OrgContext) -> SigningKey:
    key = await session.scalar(
        sa.select(SigningKey)
        .where(SigningKey.org_id == ctx.org.id, SigningKey.revoked_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )
    if key is None:
        key, _ = await create_key(session, ctx=ctx, label="embed tokens")
    return key


def _check_claims(claims: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(claims, dict):
        raise ValidationFailed.field("claims", "must be an object")
    reserved = [c for c in RESERVED_CLAIMS if c in claims]
    if reserved:
        raise ValidationFailed.field(
            f"claims.{reserved[0]}", "is set by Tenantry; leave it out of the claims"
        )
    return claims


async def mint(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    claims: dict[str, Any],
    expires_in: int,
    max_ttl: int,
) -> dict[str, Any]:
    """A short-lived token for one end user of the organization's own app."""
    if not 30 <= expires_in <= max_ttl:
        raise ValidationFailed.field("expires_in", f"must be between 30 and {max_ttl} seconds")
    payload = dict(_check_claims(claims))
    key = await _active_key(session, ctx)
    now = int(time.time())
    payload.update({"org": ctx.org.slug, "iat": now, "exp": now + expires_in})
    token = jwt.encode(
        payload,
        box.decrypt(key.secret_enc),
        algorithm="HS256",
        headers={"kid": KID_PREFIX + key.id},
    )
    audit.log(
        session,
        ctx,
        "semantic_token.mint",
        "semantic_key",
        key.id,
        after={"claims": sorted(claims), "expires_in": expires_in},
    )
    await session.commit()
    return {"token": token, "expires_at": payload["exp"], "kid": KID_PREFIX + key.id}


@dataclass(frozen=True)
class KeyInfo:
    org_id: str
    secret: str
    revoked: bool


async def key_info(session: AsyncSession, kid: str) -> KeyInfo | None:
    if not kid.startswith(KID_PREFIX):
        return None
    key = await session.get(SigningKey, kid.removeprefix(KID_PREFIX))
    if key is None:
        return None
    return KeyInfo(key.org_id, box.decrypt(key.secret_enc), key.revoked_at is not None)
