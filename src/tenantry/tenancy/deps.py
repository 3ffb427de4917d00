"""Request → caller → organization, resolved once. Every route declares what it needs here.

Each factory returns a ``Depends`` whose callable carries ``.permission``; the route-inventory test
walks the app's routes and fails on any route that has none (deny by default).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import SESSION_STATE_KEY
from tenantry.core.errors import NotFound, Unauthenticated
from tenantry.core.logging import org_var, request_id_var
from tenantry.core.security import Keys
from tenantry.tenancy import api_keys, auth, authcache
from tenantry.tenancy.authcache import AuthCache, OrgSnap, UserSnap
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.models import Membership, Organization, User
from tenantry.tenancy.permissions import Permission

SESSION_COOKIE = "tenantry_session"


class LoginRequired(Unauthenticated):
    """Raised by page routes; the page error handler turns it into a redirect to /login."""


async def db_session(request: Request) -> AsyncSession:
    """One session per request, shared by every dependency; ``SessionCloseMiddleware`` closes it."""
    state = request.scope.setdefault("state", {})
    session = state.get(SESSION_STATE_KEY)
    if session is None:
        session = state[SESSION_STATE_KEY] = request.app.state.db.sessionmaker()
    return session


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def keys_of(request: Request) -> Keys:
    return request.app.state.keys


def client_addr(request: Request) -> str | None:
    if request.app.state.settings.trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            # The rightmost entry was added by the proxy we trust; the ones left of it are
            # whatever the client claimed.
            return forwarded.split(",")[-1].strip()[:64] or None
    return request.client.host if request.client else None


def _tag(fn, permission: Permission):
    fn.permission = permission
    return Depends(fn)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def _user_caller(request: Request, user: User) -> Caller:
    return Caller.for_user(user, client_addr(request), request_id_var.get())


async def _api_user(request: Request, session: AsyncSession) -> User:
    token = _bearer(request)
    if not token:
        raise Unauthenticated("Send 'Authorization: Bearer <access token or API key>'.")
    if token.startswith(api_keys.KEY_PREFIX):
        raise Unauthenticated(
            "API keys belong to one organization; use them on /api/v1/orgs/{org}/… routes."
        )
    user_id = request.app.state.token_verifier.user_id(token)
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("This account is disabled or no longer exists.")
    return user


def _cache(request: Request) -> AuthCache:
    return request.app.state.auth_cache


async def _org_for_user(
    request: Request, session: AsyncSession, slug: str, user_id: str, include_deleted: bool
) -> tuple[OrgSnap, str, UserSnap]:
    """One indexed query — or none when cached — for organization, role and user."""
    cache_key = ("user", user_id, slug, include_deleted)
    cached = _cache(request).get(cache_key)
    if cached is not None:
        return cached
    gen = authcache.generation()
    stmt = (
        sa.select(Organization, Membership.role, User)
        .join(Membership, Membership.org_id == Organization.id)
        .join(User, User.id == Membership.user_id)
        .where(Organization.slug == slug, Membership.user_id == user_id, User.is_active)
    )
    if not include_deleted:
        stmt = stmt.where(Organization.deleted_at.is_(None))
    row = (await session.execute(stmt)).first()
    if row is None:
        # Not a member answers exactly like a missing organization.
        raise NotFound(f"Organization '{slug}' not found.")
    found = (OrgSnap.of(row[0]), row[1], UserSnap.of(row[2]))
    _cache(request).put(cache_key, found, gen)
    return found


def _check(ctx: OrgContext, permission: Permission, include_deleted: bool) -> OrgContext:
    if ctx.org.deleted_at is not None and not (include_deleted and ctx.can(permission)):
        # A deleted organization exists only for those who may restore it.
        raise NotFound(f"Organization '{ctx.org.slug}' not found.")
    org_var.set(ctx.org.slug)
    ctx.require(permission)
    return ctx


# --- JSON API ----------------------------------------------------------------------------


def public() -> Any:
    async def allow_anyone() -> None:
        return None

    return _tag(allow_anyone, Permission.PUBLIC)


def authenticated() -> Any:
    async def signed_in_user(
        request: Request, session: AsyncSession = Depends(db_session)
    ) -> Caller:
        return _user_caller(request, await _api_user(request, session))

    return _tag(signed_in_user, Permission.AUTHENTICATED)


def api_key_holder() -> Any:
    """An API key asking about itself (its organization and scopes) — nothing else."""

    async def key_holder(request: Request, session: AsyncSession = Depends(db_session)):
        token = _bearer(request)
        if not token or not token.startswith(api_keys.KEY_PREFIX):
            raise Unauthenticated(
                f"Send 'Authorization: Bearer <API key>' ({api_keys.KEY_PREFIX}…)."
            )
        found = await api_keys.resolve_key(
            session, keys=keys_of(request), secret=token, cache=_cache(request)
        )
        if found is None:
            raise Unauthenticated("The API key is invalid, expired or revoked.")
        return found

    return _tag(key_holder, Permission.AUTHENTICATED)


def requires(permission: Permission, *, include_deleted: bool = False) -> Any:
    async def org_member(
        org: str, request: Request, session: AsyncSession = Depends(db_session)
    ) -> OrgContext:
        token = _bearer(request)
        if not token:
            raise Unauthenticated("Send 'Authorization: Bearer <access token or API key>'.")
        if token.startswith(api_keys.KEY_PREFIX):
            found = await api_keys.resolve_key(
                session, keys=keys_of(request), secret=token, cache=_cache(request)
            )
            if found is None:
                raise Unauthenticated("The API key is invalid, expired or revoked.")
            key, key_org = found
            if key_org.slug != org:
                raise NotFound(f"Organization '{org}' not found.")
            caller = Caller.for_key(key, client_addr(request), request_id_var.get())
            ctx = OrgContext(org=key_org, caller=caller, scopes=tuple(key.scopes))
            return _check(ctx, permission, include_deleted)
        user_id = request.app.state.token_verifier.user_id(token)
        found_org, role, user = await _org_for_user(request, session, org, user_id, include_deleted)
        ctx = OrgContext(org=found_org, caller=_user_caller(request, user), role=role)
        return _check(ctx, permission, include_deleted)

    return _tag(org_member, permission)


# --- HTML pages (cookie session) -----------------------------------------------------------


async def _page_user(request: Request, session: AsyncSession) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    user = await auth.user_for_web_session(session, keys=keys_of(request), token=token)
    # The page shell gets a snapshot: a rolled-back session must not leave it a stale ORM row.
    request.state.user = UserSnap.of(user) if user else None
    return user


def page_public() -> Any:
    async def anyone(
        request: Request, session: AsyncSession = Depends(db_session)
    ) -> Caller | None:
        user = await _page_user(request, session)
        return _user_caller(request, user) if user else None

    return _tag(anyone, Permission.PUBLIC)


def page_user() -> Any:
    async def signed_in(request: Request, session: AsyncSession = Depends(db_session)) -> Caller:
        user = await _page_user(request, session)
        if user is None:
            raise LoginRequired("Log in to continue.")
        return _user_caller(request, user)

    return _tag(signed_in, Permission.AUTHENTICATED)


def page_requires(permission: Permission, *, include_deleted: bool = False) -> Any:
    async def page_member(
        org: str, request: Request, session: AsyncSession = Depends(db_session)
    ) -> OrgContext:
        user = await _page_user(request, session)
        if user is None:
            raise LoginRequired("Log in to continue.")
        found_org, role, user = await _org_for_user(request, session, org, user.id, include_deleted)
        ctx = OrgContext(org=found_org, caller=_user_caller(request, user), role=role)
        request.state.ctx = ctx
        return _check(ctx, permission, include_deleted)

    return _tag(page_member, permission)


def route_permission(dependant) -> Permission | None:
    """The permission a route declared, found anywhere in its dependency tree."""
    for dep in dependant.dependencies:
        perm = getattr(dep.call, "permission", None)
        if perm is not None:
            return perm
        nested = route_permission(dep)
        if nested is not None:
            return nested
    return None
