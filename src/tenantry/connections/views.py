"""JSON API: an organization's connections — CRUD, test, restore — and the kinds on offer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile

from tenantry.connections import files, service
from tenantry.connections.kinds import KINDS
from tenantry.connections.schemas import (
    ConnectionIn,
    ConnectionOut,
    ConnectionPatch,
    ConnectionsPage,
    ConnectionTestIn,
    FileOut,
    FilesOut,
    KindOut,
    TestResultOut,
)
from tenantry.connections.storage import org_files
from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.core.secrets import secret_fields
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["connections"])
ONE = "/connections/{connection_id}"


@router.get("/connection-kinds", response_model=list[KindOut])
async def kinds(ctx: OrgContext = requires(P.DATA_READ)):
    """Every kind with its config JSON schema (secret fields are marked writeOnly)."""
    return [
        KindOut(
            name=k.name,
            title=k.title,
            direction=k.direction,
            reachable=k.reachable,
            secret_fields=sorted(secret_fields(k.config)),
            config_schema=k.config.model_json_schema(),
        )
        for k in KINDS.values()
    ]


@router.get("/connections", response_model=ConnectionsPage)
async def list_connections(
    kind: str | None = None,
    deleted: bool = Query(False, description="List deleted connections (to restore)"),
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_connections(
        session, ctx=ctx, params=params, kind=kind, deleted=deleted
    )
    return make_page([service.view(c) for c in rows], total, params)


@router.post("/connections", status_code=201, response_model=ConnectionOut)
async def create(
    body: ConnectionIn,
    request: Request,
    ctx: OrgContext = requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    """Create a connection. Credentials are stored encrypted and never returned."""
    conn = await service.create(
        session,
        ctx=ctx,
        settings=settings_of(request),
        name=body.name,
        kind=body.kind,
        config=body.config,
        description=body.description,
    )
    return service.view(conn)


@router.post("/connections/test", response_model=TestResultOut)
async def test_unsaved(
    body: ConnectionTestIn, request: Request, ctx: OrgContext = requires(P.DATA_RUN)
):
    """Try a configuration before saving it."""
    return await service.test_unsaved(
        ctx=ctx, settings=settings_of(request), kind=body.kind, config=body.config
    )


@router.get(ONE, response_model=ConnectionOut)
async def get(
    connection_id: str, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    return service.view(await service.get(session, ctx=ctx, connection_id=connection_id))


@router.patch(ONE, response_model=ConnectionOut)
async def update(
    connection_id: str,
    body: ConnectionPatch,
    request: Request,
    ctx: OrgContext = requires(P.SECRETS_MANAGE),
    session=Depends(db_session),
):
    """Change a connection; a secret left out (or sent back masked) is kept."""
    conn = await service.update(
        session,
        ctx=ctx,
        settings=settings_of(request),
        connection_id=connection_id,
        name=body.name,
        config=body.config,
        description=body.description,
    )
    return service.view(conn)


@router.delete(ONE, status_code=204)
async def delete(
    connection_id: str, ctx: OrgContext = requires(P.SECRETS_MANAGE), session=Depends(db_session)
):
    """Soft-delete; restore it with POST …/restore."""
    await service.delete(session, ctx=ctx, connection_id=connection_id)
    return Response(status_code=204)


@router.post(ONE + "/restore", response_model=ConnectionOut)
async def restore(
    connection_id: str, ctx: OrgContext = requires(P.SECRETS_MANAGE), session=Depends(db_session)
):
    return service.view(await service.restore(session, ctx=ctx, connection_id=connection_id))


@router.post(ONE + "/test", response_model=TestResultOut)
async def test_saved(
    connection_id: str,
    request: Request,
    ctx: OrgContext = requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """Really connect with the stored configuration; the result is kept on the connection."""
    return await service.test_saved(
        session, ctx=ctx, settings=settings_of(request), connection_id=connection_id
    )


# --- files ---------------------------------------------------------------------------------


@router.get("/files", response_model=FilesOut, tags=["files"])
async def list_files(request: Request, ctx: OrgContext = requires(P.DATA_READ)):
    """The organization's uploaded files (what file-based connections can point at)."""
    return {"items": files.list_files(org_files(settings_of(request), ctx.org.id))}


@router.post("/files", status_code=201, response_model=FileOut, tags=["files"])
async def upload(
    request: Request,
    file: UploadFile = File(description="CSV, JSON Lines, Parquet, SQLite or DuckDB"),
    ctx: OrgContext = requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    """Upload into ``uploads/``; a file of the same name is replaced atomically."""
    s = settings_of(request)
    saved = await files.save(
        org_files(s, ctx.org.id), file.filename, file, max_bytes=s.upload_max_bytes
    )
    audit.log(session, ctx, "file.upload", "file", saved["name"], after={"size": saved["size"]})
    await session.commit()
    return saved


@router.delete("/files/{file_name:path}", status_code=204, tags=["files"])
async def delete_file(
    file_name: str,
    request: Request,
    ctx: OrgContext = requires(P.DATA_WRITE),
    session=Depends(db_session),
):
    files.delete(org_files(settings_of(request), ctx.org.id), file_name)
    audit.log(session, ctx, "file.delete", "file", file_name)
    await session.commit()
    return Response(status_code=204)
