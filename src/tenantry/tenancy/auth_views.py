"""JSON API: sign-up, login, token refresh, logout, the current user, invitation acceptance."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.errors import PermissionDenied
from tenantry.tenancy import auth, invitations, service
from tenantry.tenancy.auth import Throttle
from tenantry.tenancy.context import Caller
from tenantry.tenancy.deps import (
    authenticated,
    client_addr,
    db_session,
    keys_of,
    public,
    settings_of,
)
from tenantry.tenancy.schemas import (
    InvitationInfoOut,
    InviteSignupIn,
    LoginIn,
    MeOut,
    MyOrgOut,
    OrgOut,
    PasswordChangeIn,
    RefreshIn,
    SessionOut,
    SignupIn,
    TokensOut,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["auth"])


def throttle_of(request: Request) -> Throttle:
    return Throttle(request.app.state.counter, request.app.state.settings)


async def _session_out(request: Request, session: AsyncSession, user) -> SessionOut:
    pair = await auth.issue_tokens(
        session, settings=settings_of(request), keys=keys_of(request), user=user
    )
    await session.commit()
    return SessionOut(
        user=UserOut.model_validate(user),
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/auth/signup", status_code=201, response_model=SessionOut)
async def signup(
    body: SignupIn, request: Request, _=public(), session: AsyncSession = Depends(db_session)
):
    """Create an account and sign in."""
    if not settings_of(request).allow_signup:
        raise PermissionDenied(
            "Sign-up is disabled on this server; ask an admin for an invitation."
        )
    user = await auth.create_user(
        session,
        settings=settings_of(request),
        email=body.email,
        password=body.password,
        name=body.name,
    )
    return await _session_out(request, session, user)


@router.post("/auth/login", response_model=SessionOut)
async def login(
    body: LoginIn, request: Request, _=public(), session: AsyncSession = Depends(db_session)
):
    """Exchange email and password for an access token and a refresh token."""
    user = await auth.authenticate(
        session,
        throttle=throttle_of(request),
        email=body.email,
        password=body.password,
        client_addr=client_addr(request),
    )
    return await _session_out(request, session, user)


@router.post("/auth/refresh", response_model=TokensOut)
async def refresh(
    body: RefreshIn, request: Request, _=public(), session: AsyncSession = Depends(db_session)
):
    """Rotate a refresh token: returns a new pair; the presented token is spent."""
    pair = await auth.refresh_tokens(
        session,
        settings=settings_of(request),
        keys=keys_of(request),
        refresh_token=body.refresh_token,
    )
    return TokensOut(**pair.__dict__)


@router.post("/auth/logout", status_code=204)
async def logout(
    body: RefreshIn, request: Request, _=public(), session: AsyncSession = Depends(db_session)
):
    """Revoke the refresh token and every token rotated from the same login."""
    await auth.revoke_refresh_token(
        session, keys=keys_of(request), refresh_token=body.refresh_token
    )
    await session.commit()
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(caller: Caller = authenticated(), session: AsyncSession = Depends(db_session)):
    rows = await service.list_orgs_for_user(session, user=caller.user)
    orgs = [MyOrgOut(**OrgOut.model_validate(o).model_dump(), role=r) for o, r in rows]
    return MeOut(**UserOut.model_validate(caller.user).model_dump(), organizations=orgs)


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    caller: Caller = authenticated(),
    session: AsyncSession = Depends(db_session),
):
    """Change your password; every other session and refresh token is revoked."""
    await auth.change_password(
        session,
        settings=settings_of(request),
        throttle=throttle_of(request),
        user=caller.user,
        current=body.current_password,
        new=body.new_password,
        caller=caller,
    )
    await session.commit()
    return Response(status_code=204)


@router.get("/invitations/{token}", response_model=InvitationInfoOut, tags=["invitations"])
async def invitation_info(
    token: str, request: Request, _=public(), session: AsyncSession = Depends(db_session)
):
    """What an invitation link is for (organization, email, role), if it is still valid."""
    inv, org = await invitations.load_invitation(session, keys=keys_of(request), token=token)
    existing = await auth.get_user_by_email(session, inv.email)
    return InvitationInfoOut(
        organization=org.name,
        organization_slug=org.slug,
        email=inv.email,
        role=inv.role,
        account_exists=existing is not None,
    )


@router.post("/invitations/{token}/accept", response_model=MyOrgOut, tags=["invitations"])
async def accept_invitation(
    token: str,
    request: Request,
    caller: Caller = authenticated(),
    session: AsyncSession = Depends(db_session),
):
    """Accept an invitation as the signed-in user (whose email must match)."""
    org, member = await invitations.accept_invitation(
        session, keys=keys_of(request), token=token, user=caller.user, caller=caller
    )
    return MyOrgOut(**OrgOut.model_validate(org).model_dump(), role=member.role)


@router.post(
    "/invitations/{token}/signup", status_code=201, response_model=SessionOut, tags=["invitations"]
)
async def signup_with_invitation(
    token: str,
    body: InviteSignupIn,
    request: Request,
    _=public(),
    session: AsyncSession = Depends(db_session),
):
    """Create the invited account (email from the invitation), join the organization, sign in."""
    inv, _org = await invitations.load_invitation(session, keys=keys_of(request), token=token)
    user = await auth.create_user(
        session,
        settings=settings_of(request),
        email=inv.email,
        password=body.password,
        name=body.name,
    )
    caller = Caller.for_user(user, client_addr(request))
    await invitations.accept_invitation(
        session, keys=keys_of(request), token=token, user=user, caller=caller
    )
    return await _session_out(request, session, user)
