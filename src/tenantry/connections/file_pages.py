"""HTML: the organization's files — upload, list, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile

from tenantry.connections import files
from tenantry.connections.storage import org_files
from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, page_requires, settings_of
from tenantry.tenancy.org_pages import org_render
from tenantry.tenancy.pages import errors_of
from tenantry.tenancy.permissions import Permission as P
from tenantry.web.csrf import verified_form
from tenantry.web.nav import NavItem, register
from tenantry.web.render import redirect

register(NavItem("files", "Files", "/files", "Data", "data:read"))
router = APIRouter(prefix="/o/{org}/files", include_in_schema=False)


async def _page(request, session, ctx, extra=None, status=200):
    listing = files.list_files(org_files(settings_of(request), ctx.org.id))
    max_mb = settings_of(request).upload_max_bytes // (1024 * 1024)
    context = {"files": listing, "max_mb": max_mb, **(extra or {})}
    return await org_render(request, session, ctx, "files.html", context, status)


@router.get("")
async def files_page(
    request: Request, ctx: OrgContext = page_requires(P.DATA_READ), session=Depends(db_session)
):
    return await _page(request, session, ctx)


@router.post("")
async def upload(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    upload = form.get("file")
    s = settings_of(request)
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed.field("file", "choose a file to upload")
        saved = await files.save(
            org_files(s, ctx.org.id), upload.filename, upload, max_bytes=s.upload_max_bytes
        )
    except TenantryError as exc:
        return await _page(request, session, ctx, {"errors": errors_of(exc)}, exc.status)
    audit.log(session, ctx, "file.upload", "file", saved["name"], after={"size": saved["size"]})
    await session.commit()
    return redirect(f"/o/{ctx.org.slug}/files", request, f"Uploaded {saved['name']}.")


@router.post("/delete")
async def delete(
    request: Request,
    form: FormData = verified_form,
    ctx: OrgContext = page_requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    name = str(form.get("name", ""))
    files.delete(org_files(settings_of(request), ctx.org.id), name)
    audit.log(session, ctx, "file.delete", "file", name)
    await session.commit()
    return redirect(f"/o/{ctx.org.slug}/files", request, f"Deleted {name}.")
