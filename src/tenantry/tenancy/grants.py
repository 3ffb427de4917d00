"""What a member handed out follows the member: keys and invitations never outlive their rights.

When a member is removed, or their role lowered, the API keys they created and the invitations
they sent are revoked where they exceed what the member may now grant.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import utcnow
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.models import ApiKey, Invitation
from tenantry.tenancy.permissions import ROLE_RANK, SCOPE_MIN_ROLE


def _key_allowed(scopes: list[str], role: str | None) -> bool:
    return role is not None and all(ROLE_RANK[SCOPE_MIN_ROLE[s]] <= ROLE_RANK[role] for s in scopes)


def _invite_allowed(invited_role: str, role: str | None) -> bool:
    if role not in ("admin", "owner"):
        return False  # no longer manages members at all
    return invited_role != "owner" or role == "owner"


def revoke_invitation(session: AsyncSession, ctx: OrgContext, inv: Invitation, reason: str) -> None:
    inv.revoked_at = utcnow()
    audit.log(
        session,
        ctx,
        "invitation.revoke",
        "invitation",
        inv.id,
        before={"email": inv.email, "role": inv.role},
        after={"reason": reason},
    )


async def withdraw(
    session: AsyncSession, *, ctx: OrgContext, user_id: str, new_role: str | None
) -> None:
    """Revoke ``user_id``'s keys and pending invitations beyond ``new_role`` (None: removed)."""
    reason = "member removed" if new_role is None else f"member's role lowered to {new_role}"
    now = utcnow()
    keys = await session.scalars(
        sa.select(ApiKey).where(
            ApiKey.org_id == ctx.org.id,
            ApiKey.created_by_id == user_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    for key in keys:
        if not _key_allowed(key.scopes, new_role):
            key.revoked_at = now
            audit.log(
                session,
                ctx,
                "api_key.revoke",
                "api_key",
                key.id,
                before={"name": key.name, "scopes": key.scopes},
                after={"reason": reason},
            )
    invites = await session.scalars(
        sa.select(Invitation).where(
            Invitation.org_id == ctx.org.id,
            Invitation.invited_by_id == user_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    )
    for inv in invites:
        if not _invite_allowed(inv.role, new_role):
            revoke_invitation(session, ctx, inv, reason)
