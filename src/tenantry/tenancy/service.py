"""Organizations, memberships and invitations."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import unique_or_conflict, utcnow
from tenantry.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from tenantry.core.pagination import PageParams, paginate
from tenantry.tenancy import audit, grants
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.models import ROLES, Membership, Organization, User
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


def validate_name(name: str, field: str = "name", limit: int = 200) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed.field(field, "is required")
    if len(name) > limit:
        raise ValidationFailed.field(field, f"is {len(name)} characters long; the limit is {limit}")
    return name


async def ensure_unique_name(
    session: AsyncSession, model, *, org_id: str, name: str, noun: str, exclude: str | None = None
) -> None:
    """Names of an organization's live (not deleted) objects of ``model`` are unique: a taken
    one is a 409 naming the field. Models with ``org_id``, ``name`` (and ``deleted_at`` if
    they are soft-deleted)."""
    stmt = sa.select(model.id).where(model.org_id == org_id, model.name == name)
    if hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))
    if exclude:
        stmt = stmt.where(model.id != exclude)
    if await session.scalar(stmt):
        raise Conflict(
            f"A {noun} named '{name}' already exists; choose another name.",
            errors=[{"field": "name", "message": "is taken"}],
        )


def validate_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise ValidationFailed.field(
            field, f"'{role}' is not a role; use one of {', '.join(ROLES)}"
        )
    return role


def _slug_taken(slug: str) -> str:
    return f"The slug '{slug}' is taken; choose another."


async def _ensure_slug_free(session: AsyncSession, slug: str) -> None:
    if await session.scalar(sa.select(Organization.id).where(Organization.slug == slug)):
        raise Conflict(_slug_taken(slug), errors=[{"field": "slug", "message": "is taken"}])


def org_view(org: Organization) -> dict:
    return {"id": org.id, "slug": org.slug, "name": org.name}


# --- organizations ------------------------------------------------------------------------


async def create_org(
    session: AsyncSession, *, name: str, slug: str | None, owner: User, caller: Caller
) -> Organization:
    name = validate_name(name)
    slug = validate_slug(slug.strip().lower() if slug else slugify(name))
    await _ensure_slug_free(session, slug)
    org = Organization(name=name, slug=slug)
    async with unique_or_conflict(session, "slug", _slug_taken(slug)):
        session.add(org)
        await session.flush()
        await add_member(session, org_id=org.id, user=owner, role="owner", caller=caller)
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


async def add_member(
    session: AsyncSession, *, org_id: str, user: User, role: str, caller: Caller, how="member.add"
) -> Membership:
    """Make ``user`` a member (the caller commits). Refuses an existing member."""
    existing = await session.scalar(
        sa.select(Membership.id).where(Membership.org_id == org_id, Membership.user_id == user.id)
    )
    if existing:
        raise Conflict(f"{user.email} is already a member of this organization.")
    member = Membership(org_id=org_id, user_id=user.id, role=validate_role(role))
    session.add(member)
    await session.flush()
    audit.record(
        session,
        caller=caller,
        action=how,
        object_type="membership",
        object_id=member.id,
        org_id=org_id,
        after={"email": user.email, "role": role},
    )
    return member


async def list_orgs_for_user(
    session: AsyncSession, *, user: User, deleted: bool = False, params: PageParams | None = None
):
    """(organization, role) rows of the user's organizations; one page of them with ``params``."""
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
    if params is not None:
        return await paginate(session, stmt, params, rows=True)
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
        org.name = validate_name(name)
    if slug is not None:
        slug = validate_slug(slug.strip().lower())
    if slug is not None and slug != org.slug:
        await _ensure_slug_free(session, slug)
        org.slug = slug
    audit.log(
        session, ctx, "org.update", "organization", org.id, before=before, after=org_view(org)
    )
    async with unique_or_conflict(session, "slug", _slug_taken(org.slug)):
        await session.commit()
    return org


async def delete_org(session: AsyncSession, *, ctx: OrgContext) -> None:
    org = await _own_org(session, ctx)
    org.deleted_at = utcnow()
    audit.log(session, ctx, "org.delete", "organization", org.id, before=org_view(org))
    await session.commit()


async def restore_org(session: AsyncSession, *, ctx: OrgContext) -> Organization:
    org = await _own_org(session, ctx)
    if org.deleted_at is None:
        raise Conflict(f"Organization '{org.slug}' is not deleted.")
    org.deleted_at = None
    audit.log(session, ctx, "org.restore", "organization", org.id, after=org_view(org))
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


async def lock_org(session: AsyncSession, org_id: str) -> None:
    """Serialize owner-changing operations of one organization (a row lock on PostgreSQL, the
    write lock on SQLite), so two owners leaving at once cannot leave none."""
    await session.execute(
        sa.update(Organization).where(Organization.id == org_id).values(updated_at=utcnow())
    )


async def _owner_count(session: AsyncSession, org_id: str) -> int:
    return await session.scalar(
        sa.select(sa.func.count()).where(Membership.org_id == org_id, Membership.role == "owner")
    )


async def _ensure_not_last_owner(session: AsyncSession, member: Membership, message: str) -> None:
    if member.role != "owner":
        return
    await lock_org(session, member.org_id)
    await session.refresh(member)  # re-read under the lock
    if member.role == "owner" and await _owner_count(session, member.org_id) <= 1:
        raise Conflict(message)


def check_can_manage(ctx: OrgContext, target_role: str, new_role: str | None = None) -> None:
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
    check_can_manage(ctx, member.role, role)
    if role != "owner":
        await _ensure_not_last_owner(
            session,
            member,
            "This is the organization's last owner; make another member an owner first.",
        )
    before = {"role": member.role, "email": member.user.email}
    member.role = role
    audit.log(
        session,
        ctx,
        "member.role_change",
        "membership",
        member.id,
        before=before,
        after={"role": role, "email": member.user.email},
    )
    if ROLE_RANK[role] < ROLE_RANK[before["role"]]:
        await grants.withdraw(session, ctx=ctx, user_id=member.user_id, new_role=role)
    await session.commit()
    return member


async def remove_member(session: AsyncSession, *, ctx: OrgContext, member_id: str) -> None:
    member = await get_member(session, org=ctx.org, member_id=member_id)
    leaving_self = ctx.user is not None and member.user_id == ctx.user.id
    if not leaving_self:
        ctx.require(Permission.MEMBERS_MANAGE)
        check_can_manage(ctx, member.role)
    await _ensure_not_last_owner(
        session,
        member,
        "This is the organization's last owner; transfer ownership or delete the organization.",
    )
    audit.log(
        session,
        ctx,
        "member.remove",
        "membership",
        member.id,
        before={"email": member.user.email, "role": member.role},
    )
    await grants.withdraw(session, ctx=ctx, user_id=member.user_id, new_role=None)
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
    await grants.withdraw(session, ctx=ctx, user_id=me.user_id, new_role="admin")
    audit.log(
        session,
        ctx,
        "org.transfer",
        "organization",
        ctx.org.id,
        before={"owner": ctx.user.email},
        after={"owner": target.user.email},
    )
    await session.commit()
    return target
