"""JSON API: organizations, members, invitations, API keys, secrets, audit log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.tenancy import api_keys, audit, invitations, org_secrets, service
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.deps import (
    api_key_holder,
    authenticated,
    db_session,
    keys_of,
    requires,
    settings_of,
)
from tenantry.tenancy.permissions import Permission as P
from tenantry.tenancy.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    ApiKeysPage,
    AuditEventOut,
    AuditPage,
    InvitationCreatedOut,
    InvitationIn,
    InvitationOut,
    InvitationsPage,
    MemberOut,
    MembersPage,
    MyOrgOut,
    MyOrgsPage,
    OrgAccessOut,
    OrgIn,
    OrgOut,
    OrgPatch,
    RoleIn,
    SecretIn,
    SecretOut,
    SecretsPage,
    TransferIn,
)

router = APIRouter(prefix="/api/v1")
ORG = "/orgs/{org}"


def member_out(m) -> MemberOut:
    return MemberOut(
        id=m.id,
        user_id=m.user_id,
        email=m.user.email,
        name=m.user.name,
        role=m.role,
        created_at=m.created_at,
    )


# --- organizations ------------------------------------------------------------------------


@router.get("/api-key", tags=["api keys"])
async def whoami_key(found=api_key_holder()):
    """The calling API key: its organization and scopes (so a client needs only the key)."""
    key, org = found
    return {
        "org": org.slug,
        "org_name": org.name,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "expires_at": key.expires_at,
    }


@router.get("/orgs", response_model=MyOrgsPage, tags=["organizations"])
async def list_orgs(
    deleted: bool = Query(False, description="List deleted organizations you own (to restore)"),
    caller: Caller = authenticated(),
    params: PageParams = Depends(page_params),
    session: AsyncSession = Depends(db_session),
):
    """Your organizations and your role in each."""
    rows, total = await service.list_orgs_for_user(
        session, user=caller.user, deleted=deleted, params=params
    )
    items = [MyOrgOut(**OrgOut.model_validate(o).model_dump(), role=r) for o, r in rows]
    return make_page(items, total, params)


@router.post("/orgs", status_code=201, response_model=MyOrgOut, tags=["organizations"])
async def create_org(body: OrgIn, caller: Caller = authenticated(), session=Depends(db_session)):
    """Create an organization; you become its owner."""
    org = await service.create_org(
        session, name=body.name, slug=body.slug, owner=caller.user, caller=caller
    )
    return MyOrgOut(**OrgOut.model_validate(org).model_dump(), role="owner")


@router.get(ORG, response_model=OrgOut, tags=["organizations"])
async def get_org(ctx: OrgContext = requires(P.ORG_READ)):
    return ctx.org


@router.get(ORG + "/me", response_model=OrgAccessOut, tags=["organizations"])
async def my_access(ctx: OrgContext = requires(P.ORG_READ)):
    """What the caller (user or API key) may do in this organization."""
    perms = [p.value for p in P if p not in (P.PUBLIC, P.AUTHENTICATED) and ctx.can(p)]
    return OrgAccessOut(
        organization=OrgOut.model_validate(ctx.org),
        actor_type=ctx.caller.actor_type,
        actor=ctx.caller.actor_label,
        role=ctx.role,
        scopes=list(ctx.scopes),
        permissions=perms,
    )


@router.patch(ORG, response_model=OrgOut, tags=["organizations"])
async def update_org(
    body: OrgPatch, ctx: OrgContext = requires(P.ORG_UPDATE), session=Depends(db_session)
):
    return await service.update_org(session, ctx=ctx, name=body.name, slug=body.slug)


@router.delete(ORG, status_code=204, tags=["organizations"])
async def delete_org(ctx: OrgContext = requires(P.ORG_DELETE), session=Depends(db_session)):
    """Soft-delete: the organization disappears for everyone; its owners can restore it."""
    await service.delete_org(session, ctx=ctx)
    return Response(status_code=204)


@router.post(ORG + "/restore", response_model=OrgOut, tags=["organizations"])
async def restore_org(
    ctx: OrgContext = requires(P.ORG_DELETE, include_deleted=True), session=Depends(db_session)
):
    return await service.restore_org(session, ctx=ctx)


@router.post(ORG + "/transfer", response_model=MemberOut, tags=["organizations"])
async def transfer(
    body: TransferIn, ctx: OrgContext = requires(P.ORG_TRANSFER), session=Depends(db_session)
):
    """Make another member the owner; you become an admin."""
    return member_out(await service.transfer_ownership(session, ctx=ctx, member_id=body.member_id))


# --- members ------------------------------------------------------------------------------


@router.get(ORG + "/members", response_model=MembersPage, tags=["members"])
async def list_members(
    ctx: OrgContext = requires(P.MEMBERS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_members(session, org=ctx.org, params=params)
    return make_page([member_out(m) for m in rows], total, params)


@router.get(ORG + "/members/{member_id}", response_model=MemberOut, tags=["members"])
async def get_member(
    member_id: str, ctx: OrgContext = requires(P.MEMBERS_READ), session=Depends(db_session)
):
    return member_out(await service.get_member(session, org=ctx.org, member_id=member_id))


@router.patch(ORG + "/members/{member_id}", response_model=MemberOut, tags=["members"])
async def change_role(
    member_id: str,
    body: RoleIn,
    ctx: OrgContext = requires(P.MEMBERS_MANAGE),
    session=Depends(db_session),
):
    return member_out(
        await service.change_role(session, ctx=ctx, member_id=member_id, role=body.role)
    )


@router.delete(ORG + "/members/{member_id}", status_code=204, tags=["members"])
async def remove_member(
    member_id: str, ctx: OrgContext = requires(P.MEMBERS_READ), session=Depends(db_session)
):
    """Remove a member (needs members:manage), or leave the organization (your own membership)."""
    await service.remove_member(session, ctx=ctx, member_id=member_id)
    return Response(status_code=204)


# --- invitations --------------------------------------------------------------------------


@router.get(ORG + "/invitations", response_model=InvitationsPage, tags=["invitations"])
async def list_invitations(
    ctx: OrgContext = requires(P.MEMBERS_MANAGE),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await invitations.list_invitations(session, org=ctx.org, params=params)
    return make_page([InvitationOut.model_validate(i) for i in rows], total, params)


@router.post(
    ORG + "/invitations", status_code=201, response_model=InvitationCreatedOut, tags=["invitations"]
)
async def invite(
    body: InvitationIn,
    request: Request,
    ctx: OrgContext = requires(P.MEMBERS_MANAGE),
    session=Depends(db_session),
):
    """Invite an email with a role. The response carries the single-use link to send them."""
    inv, token = await invitations.create_invitation(
        session,
        ctx=ctx,
        settings=settings_of(request),
        keys=keys_of(request),
        email=body.email,
        role=body.role,
    )
    return InvitationCreatedOut(
        **InvitationOut.model_validate(inv).model_dump(),
        link=invitations.invitation_link(settings_of(request), token),
    )


@router.delete(ORG + "/invitations/{invitation_id}", status_code=204, tags=["invitations"])
async def revoke_invitation(
    invitation_id: str, ctx: OrgContext = requires(P.MEMBERS_MANAGE), session=Depends(db_session)
):
    await invitations.revoke_invitation(session, ctx=ctx, invitation_id=invitation_id)
    return Response(status_code=204)


# --- API keys -----------------------------------------------------------------------------


@router.get(ORG + "/api-keys", response_model=ApiKeysPage, tags=["api keys"])
async def list_api_keys(
    include_revoked: bool = False,
    ctx: OrgContext = requires(P.API_KEYS_MANAGE),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await api_keys.list_keys(
        session, org=ctx.org, params=params, include_revoked=include_revoked
    )
    return make_page([ApiKeyOut.model_validate(k) for k in rows], total, params)


@router.post(ORG + "/api-keys", status_code=201, response_model=ApiKeyCreatedOut, tags=["api keys"])
async def create_api_key(
    body: ApiKeyIn,
    request: Request,
    ctx: OrgContext = requires(P.API_KEYS_MANAGE),
    session=Depends(db_session),
):
    """Create a key. Its secret is in this response only; the server keeps just a keyed hash."""
    key, secret = await api_keys.create_key(
        session,
        ctx=ctx,
        keys=keys_of(request),
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return ApiKeyCreatedOut(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.delete(ORG + "/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_api_key(
    key_id: str, ctx: OrgContext = requires(P.API_KEYS_MANAGE), session=Depends(db_session)
):
    """Revoke a key; it stops working on the next request."""
    await api_keys.revoke_key(session, ctx=ctx, key_id=key_id)
    return Response(status_code=204)


# --- secrets ------------------------------------------------------------------------------


@router.get(ORG + "/secrets", response_model=SecretsPage, tags=["secrets"])
async def list_secrets(
    ctx: OrgContext = requires(P.SECRETS_MANAGE),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await org_secrets.list_secrets(session, org=ctx.org, params=params)
    return make_page([org_secrets.secret_view(s) for s in rows], total, params)


@router.put(ORG + "/secrets", response_model=SecretOut, tags=["secrets"])
async def set_secret(
    body: SecretIn, ctx: OrgContext = requires(P.SECRETS_MANAGE), session=Depends(db_session)
):
    """Create or replace a named secret. The value is write-only: responses show it masked."""
    s = await org_secrets.set_secret(
        session,
        ctx=ctx,
        name=body.name,
        value=body.value.get_secret_value(),
        description=body.description,
    )
    return org_secrets.secret_view(s)


@router.delete(ORG + "/secrets/{secret_id}", status_code=204, tags=["secrets"])
async def delete_secret(
    secret_id: str, ctx: OrgContext = requires(P.SECRETS_MANAGE), session=Depends(db_session)
):
    await org_secrets.delete_secret(session, ctx=ctx, secret_id=secret_id)
    return Response(status_code=204)


# --- audit --------------------------------------------------------------------------------


@router.get(ORG + "/audit", response_model=AuditPage, tags=["audit"])
async def list_audit(
    action: str | None = Query(None, description="e.g. `member` or `member.role_change`"),
    actor: str | None = Query(None, description="Actor id or part of their email / key name"),
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ctx: OrgContext = requires(P.AUDIT_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await audit.list_events(
        session,
        org_id=ctx.org.id,
        params=params,
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
    )
    return make_page([AuditEventOut.model_validate(e) for e in rows], total, params)
