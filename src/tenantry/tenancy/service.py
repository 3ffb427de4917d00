"""Organizations, memberships and invitations."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import utcnow
from tenantry.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.security import Keys, decode_jwt, encode_jwt, keyed_hash
from tenantry.tenancy import audit
from tenantry.tenancy.auth import normalize_email
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.models import ROLES, Invitation, Membership, Organization, User
from tenantry.tenancy.permissions import ROLE_RANK, Permission

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = {"new", "api", "admin", "settings", "static", "login", "logout", "signup"}


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:63].strip("-") or "org"


def validate_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise ValidationFailed.field(
            "slug",
            f"'{slug}' is not a valid slug: use 1-63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit",
        )
    if slug in RESERVED_SLUGS:
        raise ValidationFailed.field("slug", f"'{slug}' is reserved; choose another")
    return slug


def validate_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise ValidationFailed.field(
            field, f"'{role}' is not a role; use one of {', '.join(ROLES)}"
        )
    return role


def org_view(org: Organization) -> dict:
    return {"id": org.id, "slug": org.slug, "name": org.name}


# --- organizations ------------------------------------------------------------------------


async def create_org(
    session: AsyncSession, *, name: str, slug: str | None, owner: User, caller: Caller
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationFailed.field("name", "is required")
    slug = validate_slug(slug.strip().lower() if slug else slugify(name))
    if await session.scalar(sa.select(Organization.id).where(Organization.slug == slug)):
        raise Conflict(
            f"The slug '{slug}' is taken; choose another.",
            errors=[{"field": "slug", "message": "is taken"}],
        )
    org = Organization(name=name, slug=slug)
    session.add(org)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=owner.id, role="owner"))
    audit.record(
        session,
        caller=caller,
        action="org.create",
        object_type="organization",
        object_id=org.id,
        org_id=org.id,
        after=org_view(org),
    )
    await session.commit()
    return org


async def list_orgs_for_user(session: AsyncSession, *, user: User, deleted: bool = False):
    stmt = (
        sa.select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user.id)
        .where(
            Organization.deleted_at.is_not(None) if deleted else Organization.deleted_at.is_(None)
        )
        .order_by(Organization.name)
    )
    if deleted:
        stmt = stmt.where(Membership.role == "owner")
    return (await session.execute(stmt)).all()


async def _own_org(session: AsyncSession, ctx: OrgContext) -> Organization:
    """The organization as a row of this session (``ctx.org`` is a read-only snapshot)."""
    org = await session.get(Organization, ctx.org.id)
    if org is None:
        raise NotFound(f"Organization '{ctx.org.slug}' not found.")
    return org


async def update_org(
    session: AsyncSession, *, ctx: OrgContext, name: str | None, slug: str | None
) -> Organization:
    org = await _own_org(session, ctx)
    before = org_view(org)
    if name is not None:
        if not name.strip():
            raise ValidationFailed.field("name", "cannot be empty")
        org.name = name.strip()
    if slug is not None and slug != org.slug:
        slug = validate_slug(slug.strip().lower())
        if await session.scalar(sa.select(Organization.id).where(Organization.slug == slug)):
            raise Conflict(
                f"The slug '{slug}' is taken; choose another.",
                errors=[{"field": "slug", "message": "is taken"}],
            )
        org.slug = slug
    audit.record(
        session,
        caller=ctx.caller,
        action="org.update",
        object_type="organization",
        object_id=org.id,
        org_id=org.id,
        before=before,
        after=org_view(org),
    )
    await session.commit()
    return org


async def delete_org(session: AsyncSession, *, ctx: OrgContext) -> None:
    org = await _own_org(session, ctx)
    org.deleted_at = utcnow()
    audit.record(
        session,
        caller=ctx.caller,
        action="org.delete",
        object_type="organization",
        object_id=org.id,
        org_id=org.id,
        before=org_view(org),
    )
    await session.commit()


async def restore_org(session: AsyncSession, *, ctx: OrgContext) -> Organization:
    org = await _own_org(session, ctx)
    if org.deleted_at is None:
        raise Conflict(f"Organization '{org.slug}' is not deleted.")
    org.deleted_at = None
    audit.record(
        session,
        caller=ctx.caller,
        action="org.restore",
        object_type="organization",
        object_id=org.id,
        org_id=org.id,
        after=org_view(org),
    )
    await session.commit()
    return org


# --- members ------------------------------------------------------------------------------


async def list_members(session: AsyncSession, *, org: Organization, params: PageParams):
    stmt = (
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org.id)
        .order_by(User.email_normalized)
    )
    return await paginate(session, stmt, params)


async def get_member(session: AsyncSession, *, org: Organization, member_id: str) -> Membership:
    m = await session.scalar(
        sa.select(Membership).where(Membership.org_id == org.id, Membership.id == member_id)
    )
    if m is None:
        raise NotFound(f"Member '{member_id}' not found in this organization.")
    return m


async def _owner_count(session: AsyncSession, org_id: str) -> int:
    return await session.scalar(
        sa.select(sa.func.count()).where(Membership.org_id == org_id, Membership.role == "owner")
    )


def _check_can_manage(ctx: OrgContext, target_role: str, new_role: str | None = None) -> None:
    """Admins manage up to admin; only owners touch owners or make new ones."""
    acting = ctx.role or "admin"  # API keys with the admin scope act as an admin
    for role in filter(None, (target_role, new_role)):
        if ROLE_RANK[role] > ROLE_RANK[acting] or (role == "owner" and acting != "owner"):
            raise PermissionDenied(f"Only an owner can grant, change or remove the '{role}' role.")


async def change_role(
    session: AsyncSession, *, ctx: OrgContext, member_id: str, role: str
) -> Membership:
    validate_role(role)
    member = await get_member(session, org=ctx.org, member_id=member_id)
    _check_can_manage(ctx, member.role, role)
    if member.role == "owner" and role != "owner" and await _owner_count(session, ctx.org.id) <= 1:
        raise Conflict("This is the organization's last owner; make another member an owner first.")
    before = {"role": member.role, "email": member.user.email}
    member.role = role
    audit.record(
        session,
        caller=ctx.caller,
        action="member.role_change",
        object_type="membership",
        object_id=member.id,
        org_id=ctx.org.id,
        before=before,
        after={"role": role, "email": member.user.email},
    )
    await session.commit()
    return member


async def remove_member(session: AsyncSession, *, ctx: OrgContext, member_id: str) -> None:
    member = await get_member(session, org=ctx.org, member_id=member_id)
    leaving_self = ctx.user is not None and member.user_id == ctx.user.id
    if not leaving_self:
        ctx.require(Permission.MEMBERS_MANAGE)
        _check_can_manage(ctx, member.role)
    if member.role == "owner" and await _owner_count(session, ctx.org.id) <= 1:
        raise Conflict(
            "This is the organization's last owner; transfer ownership or delete the organization."
        )
    audit.record(
        session,
        caller=ctx.caller,
        action="member.remove",
        object_type="membership",
        object_id=member.id,
        org_id=ctx.org.id,
        before={"email": member.user.email, "role": member.role},
    )
    await session.delete(member)
    await session.commit()


async def transfer_ownership(
    session: AsyncSession, *, ctx: OrgContext, member_id: str
) -> Membership:
    """Make ``member_id`` an owner and step the acting owner down to admin."""
    target = await get_member(session, org=ctx.org, member_id=member_id)
    if ctx.user is None:
        raise PermissionDenied("Ownership can only be transferred by a signed-in owner.")
    me = await session.scalar(
        sa.select(Membership).where(
            Membership.org_id == ctx.org.id, Membership.user_id == ctx.user.id
        )
    )
    if target.id == me.id:
        raise ValidationFailed.field("member_id", "is you; choose another member")
    target.role, me.role = "owner", "admin"
    audit.record(
        session,
        caller=ctx.caller,
        action="org.transfer",
        object_type="organization",
        object_id=ctx.org.id,
        org_id=ctx.org.id,
        before={"owner": ctx.user.email},
        after={"owner": target.user.email},
    )
    await session.commit()
    return target


# --- invitations --------------------------------------------------------------------------


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/invite/{token}"


async def create_invitation(
    session: AsyncSession, *, ctx: OrgContext, settings: Settings, keys: Keys, email: str, role: str
) -> tuple[Invitation, str]:
    email = normalize_email(email)
    validate_role(role)
    _check_can_manage(ctx, role)
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
    audit.record(
        session,
        caller=ctx.caller,
        action="invitation.create",
        object_type="invitation",
        object_id=inv.id,
        org_id=ctx.org.id,
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
    inv.revoked_at = utcnow()
    audit.record(
        session,
        caller=ctx.caller,
        action="invitation.revoke",
        object_type="invitation",
        object_id=inv.id,
        org_id=ctx.org.id,
        before={"email": inv.email, "role": inv.role},
    )
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
        .where(Invitation.id == inv.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=utcnow(), accepted_by_id=user.id)
    )
    if done.rowcount != 1:
        raise Conflict("This invitation has already been accepted.")
    existing = await session.scalar(
        sa.select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    )
    if existing:
        raise Conflict(f"You are already a member of {org.name}.")
    member = Membership(org_id=org.id, user_id=user.id, role=inv.role)
    session.add(member)
    await session.flush()
    audit.record(
        session,
        caller=caller,
        action="invitation.accept",
        object_type="membership",
        object_id=member.id,
        org_id=org.id,
        after={"email": user.email, "role": inv.role},
    )
    await session.commit()
    return org, member
