"""Who calls /cubejs-api: a JWT (Cube's way), a platform API key with the `semantic` scope, or
a signed-in user of the UI (session cookie + ``X-Tenantry-Org``). Every failure is a 403."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import PermissionDenied
from tenantry.semantic import tokens
from tenantry.semantic.engine import Tenant
from tenantry.semantic.runtime import runtime_of
from tenantry.tenancy import api_keys, deps
from tenantry.tenancy.authcache import OrgSnap
from tenantry.tenancy.models import Organization
from tenantry.tenancy.permissions import Permission as P

ORG_HEADER = "x-tenantry-org"


class AuthFailed(PermissionDenied):
    pass


def security_context(claims: dict[str, Any], roles: tuple[str, ...] | None = None):
    from tenantry.semantic.compiler import SecurityContext

    if roles is None:
        found = claims.get("roles", claims.get("role", ()))
        roles = tuple(str(r) for r in (found if isinstance(found, list) else [found]) if r)
    return SecurityContext(claims=claims, roles=roles)


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "").strip()
    if header.lower().startswith("bearer "):
        header = header[7:].strip()
    return header or request.headers.get("x-api-key") or None


async def _org(request: Request, session: AsyncSession, org_id: str) -> OrgSnap:
    rt = runtime_of(request.app)
    org = rt.orgs.get(org_id)
    if org is None:
        row = await session.get(Organization, org_id)
        if row is None:
            raise AuthFailed("Invalid token: its organization does not exist.")
        org = OrgSnap.of(row)
        rt.orgs.put(org_id, org)
    if org.deleted_at is not None:
        raise AuthFailed("Invalid token: its organization does not exist.")
    return org


async def _from_jwt(request: Request, session: AsyncSession, token: str) -> tuple[OrgSnap, Tenant]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthFailed("Invalid token: not a JWT.") from None
    if header.get("alg") != "HS256":
        raise AuthFailed("Invalid token: only HS256 is accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AuthFailed("Invalid token: its header needs the 'kid' of a signing key.")
    rt = runtime_of(request.app)
    info = rt.keys.get(kid)
    if info is None:
        info = await tokens.key_info(session, kid)
        if info is None:
            raise AuthFailed("Invalid token: unknown signing key.")
        rt.keys.put(kid, info)
    if info.revoked:
        raise AuthFailed("Invalid token: its signing key was revoked.")
    try:
        claims = jwt.decode(
            token, info.secret, algorithms=["HS256"], options={"require": ["exp"]}, leeway=5
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailed("Invalid token: it has expired.") from None
    except jwt.PyJWTError as exc:
        raise AuthFailed(f"Invalid token: {exc}.") from None
    org = await _org(request, session, info.org_id)
    if "org" in claims and claims["org"] not in (org.slug, org.id):
        raise AuthFailed("Invalid token: it names another organization than its key's.")
    return org, Tenant(org.id, org.slug, security_context(claims), "jwt")


async def _from_api_key(request: Request, session: AsyncSession, secret: str):
    found = await api_keys.resolve_key(
        session, keys=deps.keys_of(request), secret=secret, cache=request.app.state.auth_cache
    )
    if found is None:
        raise AuthFailed("The API key is invalid, expired or revoked.")
    key, org = found
    if not any(s in ("semantic", "read") for s in key.scopes):
        raise AuthFailed("This API key needs the 'semantic' (or 'read') scope.")
    return org, Tenant(org.id, org.slug, security_context({}, ("api_key",)), "api_key")


async def _from_session(request: Request, session: AsyncSession):
    # A header, never a query parameter: a cross-site form cannot send it (no CSRF with cookies).
    slug = request.headers.get(ORG_HEADER)
    user = await deps._page_user(request, session)
    if user is None or not slug:
        raise AuthFailed(
            "Send 'Authorization: <token>' (a JWT signed with the organization's key, or an "
            "API key with the 'semantic' scope)."
        )
    try:
        org, role, _ = await deps._org_for_user(request, session, slug, user.id, False)
    except Exception:
        raise AuthFailed("Unknown organization.") from None
    claims = {"sub": user.id, "email": user.email, "role": role}
    return org, Tenant(org.id, org.slug, security_context(claims, (role,)), "session")


async def authenticate(request: Request, session: AsyncSession) -> tuple[OrgSnap, Tenant]:
    credential = _credential(request)
    if credential is None:
        return await _from_session(request, session)
    if credential.startswith(api_keys.KEY_PREFIX):
        return await _from_api_key(request, session, credential)
    return await _from_jwt(request, session, credential)


def cube_caller():
    """The route dependency: resolves the tenant and declares the permission it stands for."""
    from fastapi import Depends

    async def semantic_tenant(request: Request, session=Depends(deps.db_session)):
        org, tenant = await authenticate(request, session)
        request.state.semantic_org = org
        return tenant

    semantic_tenant.permission = P.SEMANTIC_QUERY
    return Depends(semantic_tenant)
