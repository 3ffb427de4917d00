"""Organization API keys: ``tny_`` prefix, shown once, stored as HMAC-SHA256 with a server pepper.

A keyed hash (not bcrypt) keeps each request's lookup to one indexed query; the keys are 256-bit
random, so a slow hash adds nothing against guessing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import as_utc, utcnow
from tenantry.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.security import Keys, keyed_hash, random_token
from tenantry.tenancy import audit, authcache
from tenantry.tenancy.authcache import AuthCache, KeySnap, OrgSnap
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.models import ApiKey, Organization
from tenantry.tenancy.permissions import ROLE_RANK, SCOPE_MIN_ROLE, SCOPES

KEY_PREFIX = "tny_"
# How stale `last_used_at` may get: writing it on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def key_view(key: ApiKey) -> dict:
    return {
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def validate_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise ValidationFailed.field("scopes", f"choose at least one of {', '.join(SCOPES)}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValidationFailed.field(
            "scopes", f"unknown scope(s) {', '.join(unknown)}; use {', '.join(SCOPES)}"
        )
    return sorted(set(scopes), key=SCOPES.index)


async def create_key(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    keys: Keys,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed.field("name", "is required, at most 200 characters")
    scopes = validate_scopes(scopes)
    # A key may not do more than the person who made it.
    if ctx.role:
        for scope in scopes:
            if ROLE_RANK[SCOPE_MIN_ROLE[scope]] > ROLE_RANK[ctx.role]:
                raise PermissionDenied(f"Your role '{ctx.role}' cannot grant the '{scope}' scope.")
    elif ctx.scopes:
        extra = set(scopes) - set(ctx.scopes)
        if extra:
            raise PermissionDenied(
                "This API key cannot create a key with scopes it lacks: "
                f"{', '.join(sorted(extra))}."
            )
    expires_at = as_utc(expires_at)
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed.field("expires_at", "must be in the future")
    secret = random_token(KEY_PREFIX)
    key = ApiKey(
        org_id=ctx.org.id,
        name=name,
        prefix=secret[:12],
        key_hash=keyed_hash(keys.api_key_pepper, secret),
        scopes=scopes,
        expires_at=expires_at,
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(key)
    await session.flush()
    audit.log(session, ctx, "api_key.create", "api_key", key.id, after=key_view(key))
    await session.commit()
    return key, secret


async def list_keys(
    session: AsyncSession, *, org: Organization, params: PageParams, include_revoked=False
):
    stmt = sa.select(ApiKey).where(ApiKey.org_id == org.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return await paginate(session, stmt.order_by(ApiKey.created_at.desc()), params)


async def revoke_key(session: AsyncSession, *, ctx: OrgContext, key_id: str) -> ApiKey:
    key = await session.scalar(
        sa.select(ApiKey).where(ApiKey.org_id == ctx.org.id, ApiKey.id == key_id)
    )
    if key is None:
        raise NotFound(f"API key '{key_id}' not found in this organization.")
    if key.revoked_at is not None:
        raise Conflict("This API key is already revoked.")
    key.revoked_at = utcnow()
    audit.log(session, ctx, "api_key.revoke", "api_key", key.id, before=key_view(key))
    await session.commit()
    return key


async def resolve_key(
    session: AsyncSession, *, keys: Keys, secret: str, cache: AuthCache | None = None
) -> tuple[KeySnap, OrgSnap] | None:
    """The live key and its live organization, or None. Revocation is seen on the next request."""
    key_hash = keyed_hash(keys.api_key_pepper, secret)
    # Read before looking anything up: an entry is only stored if nothing changed since.
    gen = authcache.generation()
    found = cache.get(("key", key_hash)) if cache else None
    if found is None:
        row = (
            await session.execute(
                sa.select(ApiKey, Organization)
                .join(Organization, Organization.id == ApiKey.org_id)
                .where(
                    ApiKey.key_hash == key_hash,
                    ApiKey.revoked_at.is_(None),
                    Organization.deleted_at.is_(None),
                )
            )
        ).first()
        if row is None:
            return None
        found = (KeySnap.of(row[0]), OrgSnap.of(row[1]))
        if cache:
            cache.put(("key", key_hash), found, gen)
    key, org = found
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # Recorded at most once a minute, as a Core statement so this bookkeeping does not clear
        # the auth cache; the cached snapshot is refreshed to match.
        conn = await session.connection()
        await conn.execute(sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        await session.commit()
        key = dataclasses.replace(key, last_used_at=now)
        if cache:
            cache.put(("key", key_hash), (key, org), gen)
    return key, org
