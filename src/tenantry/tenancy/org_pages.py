"""HTML pages inside an organization: the shell around them, overview, members, invitations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData

from tenantry.core.errors import TenantryError
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.tenancy import invitations, service
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, keys_of, page_requires, settings_of
from tenantry.tenancy.models import ROLES
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web import flash
from tenantry.web.csrf import verified_form
from tenantry.web.render import redirect, render

router = APIRouter(prefix="/o/{org}", include_in_schema=False)


async def org_render(
    request: Request, session, ctx: OrgContext, name: str, context=None, status=200, reveal=None
):
    """Render inside the shell. ``reveal=(name, path)`` shows a once-only secret set by
    ``flash.reveal_once`` under ``name`` and forgets it, so a reload shows it no more."""
    rows = await service.list_orgs_for_user(session, user=ctx.user)
    my_orgs = [{"slug": o.slug, "name": o.name, "role": r} for o, r in rows]
    context = {"my_orgs": my_orgs, "P": P, **(context or {})}
    revealed = flash.take_revealed(request) if reveal else None
    if revealed:
        context[reveal[0]] = revealed
    response = render(request, name, context, status_code=status)
    if revealed:
        flash.forget_revealed(response, reveal[1])
    return response


@router.get("")
async def overview(
    request: Request, ctx: OrgContext = page_requires(P.ORG_READ), session=Depends(db_session)
):
    members, total_members = await service.list_members(
        session, org=ctx.org, params=PageParams(size=1)
    )
    return await org_render(request, session, ctx, "org_home.html", {"member_count": total_members})


# --- members ------------------------------------------------------------------------------


async def _members_page(request, session, ctx, params, extra=None, status=200):
    rows, total = await service.list_members(session, org=ctx.org, params=params)
    invites, manage = [], ctx.can(P.MEMBERS_MANAGE)
    if manage:
        invites, _ = await invitations.list_invitations(
            session, org=ctx.org, params=PageParams(size=200)
        )
    context = {"page": make_page(rows, total, params), "invites": invites, "roles": ROLES}
    reveal = ("new_invite", _members_path(ctx)) if manage else None
    return await org_render(
        request, session, ctx, "members.html", {**context, **(extra or {})}, status, reveal
    )


def _members_path(ctx: OrgContext) -> str:
    return f"/o/{ctx.org.slug}/members"


@router.get("/members")
async def members(
    request: Request,
    ctx: OrgContext = page_requires(P.MEMBERS_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    return await _members_page(request, session, ctx, params)


@router.post("/members/invite")
async def invite(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.MEMBERS_MANAGE),
    session=Depends(db_session),
):
    values = {"email": str(form.get("email", "")), "role": str(form.get("role", "viewer"))}
    try:
        inv, token = await invitations.create_invitation(
            session, ctx=ctx, settings=settings_of(request), keys=keys_of(request), **values
        )
    except TenantryError as exc:
        await session.rollback()
        return await _members_page(
            request,
            session,
            ctx,
            PageParams(),
            {"errors": errors_of(exc), "values": values},
            exc.status,
        )
    link = invitations.invitation_link(settings_of(request), token)
    response = redirect(_members_path(ctx))
    revealed = {
        "email": inv.email,
        "role": inv.role,
        "link": link,
        "expires_at": inv.expires_at.strftime("%Y-%m-%d %H:%M"),
    }
    flash.reveal_once(response, revealed, _members_path(ctx))
    return response


@router.post("/members/{member_id}/role")
async def change_role(
    member_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.MEMBERS_MANAGE),
    session=Depends(db_session),
):
    member = await service.change_role(
        session, ctx=ctx, member_id=member_id, role=str(form.get("role", ""))
    )
    return redirect(
        f"/o/{ctx.org.slug}/members", request, f"{member.user.email} is now {member.role}."
    )


@router.post("/members/{member_id}/remove")
async def remove_member(
    member_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.MEMBERS_READ),
    session=Depends(db_session),
):
    member = await service.get_member(session, org=ctx.org, member_id=member_id)
    leaving = member.user_id == ctx.user.id
    await service.remove_member(session, ctx=ctx, member_id=member_id)
    if leaving:
        return redirect("/orgs", request, f"You left {ctx.org.name}.")
    return redirect(f"/o/{ctx.org.slug}/members", request, "Member removed.")


@router.post("/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    invitation_id: str,
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.MEMBERS_MANAGE),
    session=Depends(db_session),
):
    await invitations.revoke_invitation(session, ctx=ctx, invitation_id=invitation_id)
    return redirect(f"/o/{ctx.org.slug}/members", request, "Invitation revoked.")
