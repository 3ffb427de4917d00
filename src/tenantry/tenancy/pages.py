"""HTML pages: sign-up, login, logout, invitations, account, organization list and creation."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from tenantry.core.errors import Conflict, NotFound, TenantryError
from tenantry.tenancy import auth, invitations, service
from tenantry.tenancy.auth_views import throttle_of
from tenantry.tenancy.context import Caller
from tenantry.tenancy.deps import (
    LoginRequired,
    client_addr,
    db_session,
    keys_of,
    page_public,
    page_user,
    settings_of,
)
from tenantry.web.csrf import SESSION_COOKIE, verified_form
from tenantry.web.render import redirect, register_templates, render

register_templates(Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)


def errors_of(exc: TenantryError) -> dict[str, str]:
    """Field errors for inline display; anything else goes at the top of the form."""
    if exc.errors:
        return {e["field"]: e["message"] for e in exc.errors}
    return {"_form": exc.detail}


def safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/orgs"


async def page_error(request: Request, exc: TenantryError):
    if isinstance(exc, LoginRequired):
        return redirect(f"/login?next={quote(request.url.path)}")
    back = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    # A refused action (last owner, role too high…) returns to the page it came from, with why.
    if request.method == "POST" and exc.status in (403, 409, 422) and urlsplit(back).netloc == host:
        return redirect(safe_next(urlsplit(back).path), request, exc.detail, "error")
    return render(
        request,
        "error.html",
        {"status": exc.status, "title": exc.title, "detail": exc.detail},
        status_code=exc.status,
    )


async def _start_session(request: Request, session: AsyncSession, user, target: str):
    token = await auth.create_web_session(
        session,
        settings=settings_of(request),
        keys=keys_of(request),
        user=user,
        client_addr=client_addr(request),
        user_agent=request.headers.get("user-agent"),
    )
    await session.commit()
    response = redirect(safe_next(target))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings_of(request).cookie_secure,
        max_age=settings_of(request).session_ttl_hours * 3600,
    )
    return response


@router.get("/")
async def home(caller: Caller | None = page_public()):
    return redirect("/orgs" if caller else "/login")


@router.get("/signup")
async def signup_page(request: Request, caller: Caller | None = page_public()):
    if caller:
        return redirect("/orgs")
    return render(request, "signup.html", {"allow_signup": settings_of(request).allow_signup})


@router.post("/signup")
async def signup_submit(
    request: Request, form: FormData = verified_form, _=page_public(), session=Depends(db_session)
):
    values = {"email": form.get("email", ""), "name": form.get("name", "")}
    try:
        if not settings_of(request).allow_signup:
            raise Conflict("Sign-up is disabled on this server; ask an admin for an invitation.")
        user = await auth.create_user(
            session,
            settings=settings_of(request),
            email=str(values["email"]),
            password=str(form.get("password", "")),
            name=str(values["name"]),
        )
    except TenantryError as exc:
        return render(
            request,
            "signup.html",
            {"errors": errors_of(exc), "values": values, "allow_signup": True},
            status_code=exc.status,
        )
    return await _start_session(request, session, user, "/orgs/new")


@router.get("/login")
async def login_page(
    request: Request, next: str | None = None, caller: Caller | None = page_public()
):
    if caller:
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": next or ""})


@router.post("/login")
async def login_submit(
    request: Request, form: FormData = verified_form, _=page_public(), session=Depends(db_session)
):
    email, target = str(form.get("email", "")), str(form.get("next", ""))
    try:
        user = await auth.authenticate(
            session,
            throttle=throttle_of(request),
            email=email,
            password=str(form.get("password", "")),
            client_addr=client_addr(request),
        )
    except TenantryError as exc:
        response = render(
            request,
            "login.html",
            {"errors": {"_form": exc.detail}, "values": {"email": email}, "next": target},
            status_code=exc.status,
        )
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await _start_session(request, session, user, target)


@router.post("/logout")
async def logout(
    request: Request, form: FormData = verified_form, _=page_public(), session=Depends(db_session)
):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await auth.end_web_session(session, keys=keys_of(request), token=token)
        await session.commit()
    response = redirect("/login", request, "You are logged out.", "info")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account")
async def account_page(request: Request, caller: Caller = page_user()):
    return render(request, "account.html")


@router.post("/account/password")
async def account_password(
    request: Request,
    form: FormData = verified_form,
    caller: Caller = page_user(),
    session=Depends(db_session),
):
    try:
        await auth.change_password(
            session,
            settings=settings_of(request),
            throttle=throttle_of(request),
            user=caller.user,
            current=str(form.get("current_password", "")),
            new=str(form.get("new_password", "")),
            caller=caller,
        )
        await session.commit()
    except TenantryError as exc:
        return render(request, "account.html", {"errors": errors_of(exc)}, status_code=exc.status)
    # Changing the password ended every session, this one too: sign in again.
    response = redirect("/login", request, "Password changed. Log in with your new password.")
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- organizations ------------------------------------------------------------------------


@router.get("/orgs")
async def orgs_page(request: Request, caller: Caller = page_user(), session=Depends(db_session)):
    rows = await service.list_orgs_for_user(session, user=caller.user)
    deleted = await service.list_orgs_for_user(session, user=caller.user, deleted=True)
    return render(
        request,
        "orgs.html",
        {"orgs": [(o, r) for o, r in rows], "deleted": [o for o, _ in deleted]},
    )


@router.get("/orgs/new")
async def new_org_page(request: Request, caller: Caller = page_user()):
    return render(request, "org_new.html")


@router.post("/orgs/new")
async def new_org_submit(
    request: Request,
    form: FormData = verified_form,
    caller: Caller = page_user(),
    session=Depends(db_session),
):
    values = {"name": str(form.get("name", "")), "slug": str(form.get("slug", ""))}
    try:
        org = await service.create_org(
            session,
            name=values["name"],
            slug=values["slug"] or None,
            owner=caller.user,
            caller=caller,
        )
    except TenantryError as exc:
        return render(
            request,
            "org_new.html",
            {"errors": errors_of(exc), "values": values},
            status_code=exc.status,
        )
    return redirect(f"/o/{org.slug}", request, f"Created {org.name}. You are its owner.")


# --- invitations --------------------------------------------------------------------------


@router.get("/invite/{token}")
async def invite_page(
    token: str, request: Request, caller: Caller | None = page_public(), session=Depends(db_session)
):
    try:
        inv, org = await invitations.load_invitation(session, keys=keys_of(request), token=token)
    except (NotFound, Conflict) as exc:
        return render(request, "invite.html", {"problem": exc.detail}, status_code=exc.status)
    exists = await auth.get_user_by_email(session, inv.email) is not None
    return render(
        request,
        "invite.html",
        {"inv": inv, "inv_org": org, "token": token, "account_exists": exists},
    )


@router.post("/invite/{token}/accept")
async def invite_accept(
    token: str,
    request: Request,
    form: FormData = verified_form,
    caller: Caller = page_user(),
    session=Depends(db_session),
):
    try:
        org, _m = await invitations.accept_invitation(
            session, keys=keys_of(request), token=token, user=caller.user, caller=caller
        )
    except TenantryError as exc:
        return render(request, "invite.html", {"problem": exc.detail}, status_code=exc.status)
    return redirect(f"/o/{org.slug}", request, f"Welcome to {org.name}.")


@router.post("/invite/{token}/signup")
async def invite_signup(
    token: str,
    request: Request,
    form: FormData = verified_form,
    _=page_public(),
    session=Depends(db_session),
):
    try:
        inv, org = await invitations.load_invitation(session, keys=keys_of(request), token=token)
    except TenantryError as exc:
        return render(request, "invite.html", {"problem": exc.detail}, status_code=exc.status)
    name = str(form.get("name", ""))
    try:
        user = await auth.create_user(
            session,
            settings=settings_of(request),
            email=inv.email,
            password=str(form.get("password", "")),
            name=name,
        )
        caller = Caller.for_user(user, client_addr(request))
        await invitations.accept_invitation(
            session, keys=keys_of(request), token=token, user=user, caller=caller
        )
    except TenantryError as exc:
        await session.rollback()
        return render(
            request,
            "invite.html",
            {
                "inv": inv,
                "inv_org": org,
                "token": token,
                "account_exists": False,
                "errors": errors_of(exc),
                "values": {"name": name},
            },
            status_code=exc.status,
        )
    return await _start_session(request, session, user, f"/o/{org.slug}")
