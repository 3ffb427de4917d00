"""Named organization secrets: encrypted at rest, write-only, masked when listed."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import unique_or_conflict
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.secrets import mask
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.models import Organization, OrgSecret

NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")


def secret_view(s: OrgSecret) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "value": mask(s.value),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


async def set_secret(
    session: AsyncSession, *, ctx: OrgContext, name: str, value: str, description: str = ""
) -> OrgSecret:
    name = name.strip()
    if not NAME_RE.match(name):
        raise ValidationFailed.field(
            "name", "use UPPER_SNAKE_CASE: a capital letter, then capitals, digits or underscores"
        )
    if value == "":
        raise ValidationFailed.field("value", "is required")
    existing = await session.scalar(
        sa.select(OrgSecret).where(OrgSecret.org_id == ctx.org.id, OrgSecret.name == name)
    )
    action = "secret.update" if existing else "secret.create"
    if existing is None:
        existing = OrgSecret(org_id=ctx.org.id, name=name)
        session.add(existing)
    existing.value = value
    existing.description = description.strip()
    if len(existing.description) > 500:
        raise ValidationFailed.field("description", "is longer than 500 characters")
    async with unique_or_conflict(
        session, "name", f"A secret named {name} was created meanwhile; save again to replace it."
    ):
        await session.flush()
    audit.log(
        session,
        ctx,
        action,
        "secret",
        existing.id,
        after={"name": name, "description": existing.description, "value": value},
        secret_fields=frozenset({"value"}),
    )
    await session.commit()
    return existing


async def list_secrets(session: AsyncSession, *, org: Organization, params: PageParams):
    stmt = sa.select(OrgSecret).where(OrgSecret.org_id == org.id).order_by(OrgSecret.name)
    return await paginate(session, stmt, params)


async def delete_secret(session: AsyncSession, *, ctx: OrgContext, secret_id: str) -> None:
    s = await session.scalar(
        sa.select(OrgSecret).where(OrgSecret.org_id == ctx.org.id, OrgSecret.id == secret_id)
    )
    if s is None:
        raise NotFound(f"Secret '{secret_id}' not found in this organization.")
    audit.log(session, ctx, "secret.delete", "secret", s.id, before={"name": s.name})
    await session.delete(s)
    await session.commit()


async def reveal_for_runtime(session: AsyncSession, *, org: Organization, name: str) -> Any:
    """Decrypted value for platform code that needs it (never for an API response)."""
    s = await session.scalar(
        sa.select(OrgSecret).where(OrgSecret.org_id == org.id, OrgSecret.name == name)
    )
    if s is None:
        raise NotFound(f"Secret '{name}' is not defined in this organization.")
    return s.value
