"""Invitations: a signed, expiring, single-use link that adds an email to an organization."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import utcnow
from tenantry.core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.security import Keys, decode_jwt, encode_jwt, keyed_hash
from tenantry.tenancy import audit, grants
from tenantry.tenancy.auth import normalize_email
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.models import Invitation, Membership, Organization, User
from tenantry.tenancy.service import add_member, check_can_manage, validate_role


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/invite/{token}"


async def create_invitation(
    session: AsyncSession, *, ctx: OrgContext, settings: Settings, keys: Keys, email: str, role: str
) -> tuple[Invitation, str]:
    email = normalize_email(email)
    validate_role(role)
    check_can_manage(ctx, role)
    already = await session.scalar(
        sa.select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == ctx.org.id, User.email_normalized == email.lower())
    )
    if already:
        raise Conflict(
            f"{email} is already a member of this organization.",
            errors=[{"field": "email", "message": "is already a member"}],
        )
    now = utcnow()
    # A new invitation to the same address supersedes the pending one (a "resend").
    await session.execute(
        sa.update(Invitation)
        .where(
            Invitation.org_id == ctx.org.id,
            sa.func.lower(Invitation.email) == email.lower(),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    ttl = timedelta(hours=settings.invitation_ttl_hours)
    inv = Invitation(
        org_id=ctx.org.id,
        email=email,
        role=role,
        token_hash="",
        expires_at=now + ttl,
        invited_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(inv)
    await session.flush()
    token = encode_jwt(keys.invite, {"sub": inv.id, "typ": "invite", "org": ctx.org.id}, ttl)
    inv.token_hash = keyed_hash(keys.invite, token)
    audit.log(
        session,
        ctx,
        "invitation.create",
        "invitation",
        inv.id,
        after={"email": email, "role": role},
    )
    await session.commit()
    return inv, token


async def list_invitations(
    session: AsyncSession, *, org: Organization, params: PageParams, pending_only=True
):
    stmt = sa.select(Invitation).where(Invitation.org_id == org.id)
    if pending_only:
        stmt = stmt.where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
    return await paginate(session, stmt.order_by(Invitation.created_at.desc()), params)


async def revoke_invitation(session: AsyncSession, *, ctx: OrgContext, invitation_id: str) -> None:
    inv = await session.scalar(
        sa.select(Invitation).where(Invitation.org_id == ctx.org.id, Invitation.id == invitation_id)
    )
    if inv is None:
        raise NotFound(f"Invitation '{invitation_id}' not found in this organization.")
    if inv.status != "pending":
        raise Conflict(f"This invitation is already {inv.status}.")
    grants.revoke_invitation(session, ctx, inv, "revoked by an admin")
    await session.commit()


async def load_invitation(
    session: AsyncSession, *, keys: Keys, token: str
) -> tuple[Invitation, Organization]:
    """Verify the link's signature and expiry, then that it is still unused."""
    try:
        claims = decode_jwt(keys.invite, token, typ="invite")
    except Unauthenticated as exc:
        raise NotFound(
            "This invitation link is invalid or has expired; ask for a new one."
            if "expired" not in exc.detail
            else "This invitation has expired; ask an admin of the organization for a new one."
        ) from None
    inv = await session.scalar(
        sa.select(Invitation).where(
            Invitation.id == claims["sub"], Invitation.token_hash == keyed_hash(keys.invite, token)
        )
    )
    org = await session.get(Organization, inv.org_id) if inv else None
    if inv is None or org is None or org.deleted_at is not None:
        raise NotFound("This invitation link is invalid; ask for a new one.")
    if inv.status != "pending":
        raise Conflict(f"This invitation has already been {inv.status}.")
    return inv, org


async def accept_invitation(
    session: AsyncSession, *, keys: Keys, token: str, user: User, caller: Caller
) -> tuple[Organization, Membership]:
    inv, org = await load_invitation(session, keys=keys, token=token)
    if user.email_normalized != inv.email.lower():
        raise PermissionDenied(
            f"This invitation is for {inv.email}; sign in with that address to accept it."
        )
    # Single use, also under concurrent clicks.
    done = await session.execute(
        sa.update(Invitation)
        .where(
            Invitation.id == inv.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .values(accepted_at=utcnow(), accepted_by_id=user.id)
    )
    if done.rowcount != 1:
        raise Conflict("This invitation was just accepted, revoked or has expired.")
    member = await add_member(
        session, org_id=org.id, user=user, role=inv.role, caller=caller, how="invitation.accept"
    )
    await session.commit()
    return org, member
