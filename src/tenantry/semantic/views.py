"""JSON API: the data model (files, versions, diff, templates), signing keys and embed tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tenantry.core.pagination import PageParams, make_page, page_params
from tenantry.semantic import catalog, service, tokens
from tenantry.semantic.runtime import runtime_of
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.deps import db_session, requires, settings_of
from tenantry.tenancy.permissions import Permission as P

router = APIRouter(prefix="/api/v1/orgs/{org}/semantic", tags=["semantic models"])


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[str, str] = Field(description="Every model file: path → YAML")
    templates: list[str] | None = Field(
        default=None, description="Enabled templates; omitted: keep the current ones"
    )
    message: str = Field(default="", max_length=500)


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str
    message: str = Field(default="", max_length=500)


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[str, str]
    templates: list[str] = Field(default_factory=list)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: dict[str, Any] = Field(
        default_factory=dict,
        description="The end user's security context: e.g. {'sub': 'u1', 'store_id': 7, "
        "'roles': ['manager']}",
    )
    expires_in: int = Field(default=3600, description="Seconds the token is valid")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200)


def _saved(request: Request, ctx: OrgContext, version, created: bool) -> JSONResponse:
    if created:
        runtime_of(request.app).forget_org(ctx.org.id)
    body = service.view(version, with_files=False) | {"created": created}
    return JSONResponse(jsonable(body), status_code=201 if created else 200)


def jsonable(body: dict) -> dict:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(body)


@router.get("/model")
async def get_model(ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)):
    """The current model version with every file (version 0: no model yet)."""
    version = await service.current(session, ctx.org.id)
    if version is None:
        return {"version": 0, "files": {}, "templates": [], "file_names": []}
    return service.view(version)


@router.put("/model")
async def save_model(
    body: ModelIn,
    request: Request,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Replace the model's files (and templates). Validated first: a model with errors is
    refused with every error (file, cube, member, line) and nothing changes. An unchanged
    model creates no version (200, created false)."""
    version, created = await service.save(
        session,
        ctx=ctx,
        files=body.files,
        templates=body.templates,
        message=body.message,
        extra_dir=settings.semantic_templates_dir,
    )
    return _saved(request, ctx, version, created)


@router.put("/model/files/{path:path}")
async def put_file(
    path: str,
    body: FileIn,
    request: Request,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Create or replace one file (a new version when it changes)."""
    version, created = await service.put_file(
        session,
        ctx=ctx,
        name=path,
        text=body.content,
        message=body.message,
        extra_dir=settings.semantic_templates_dir,
    )
    return _saved(request, ctx, version, created)


@router.delete("/model/files/{path:path}")
async def delete_file(
    path: str,
    request: Request,
    ctx: OrgContext = requires(P.DATA_WRITE),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    version, created = await service.delete_file(
        session, ctx=ctx, name=path, extra_dir=settings.semantic_templates_dir
    )
    return _saved(request, ctx, version, created)


@router.post("/model/validate")
async def validate(
    body: ValidateIn, ctx: OrgContext = requires(P.DATA_READ), settings=Depends(settings_of)
):
    """Check unsaved files; nothing is stored."""
    errors = service.validate(body.files, body.templates, settings.semantic_templates_dir)
    return {"valid": not errors, "errors": errors}


@router.get("/versions")
async def list_versions(
    ctx: OrgContext = requires(P.DATA_READ),
    params: PageParams = Depends(page_params),
    session=Depends(db_session),
):
    rows, total = await service.list_versions(session, ctx=ctx, params=params)
    return make_page([service.view(v, with_files=False) for v in rows], total, params)


@router.get("/versions/{number}")
async def get_version(
    number: int, ctx: OrgContext = requires(P.DATA_READ), session=Depends(db_session)
):
    return service.view(await service.get_version(session, org_id=ctx.org.id, number=number))


@router.get("/versions/{number}/diff")
async def diff(
    number: int,
    against: int | None = Query(None, description="Another version; default: the one before"),
    ctx: OrgContext = requires(P.DATA_READ),
    session=Depends(db_session),
):
    """What changed from `against` (default: the previous version) to `number`."""
    new = await service.get_version(session, org_id=ctx.org.id, number=number)
    base = against if against is not None else number - 1
    old = await service.get_version(session, org_id=ctx.org.id, number=base) if base else None
    return service.diff(old, new)


@router.get("/templates")
async def templates(
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Model templates the operator provides, and whether this organization enabled each."""
    version = await service.current(session, ctx.org.id)
    enabled = set(version.templates) if version else set()
    return [
        {
            "name": t.name,
            "title": t.title,
            "description": t.description,
            "files": sorted(t.files),
            "enabled": t.name in enabled,
        }
        for t in catalog.available(settings.semantic_templates_dir).values()
    ]


@router.post("/tokens", status_code=201)
async def mint_token(
    body: TokenIn,
    ctx: OrgContext = requires(P.SEMANTIC_TOKENS),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """A short-lived JWT for an end user of your own app: its claims become the security
    context (row-level access policies read them). It only ever reaches this organization."""
    return await tokens.mint(
        session,
        ctx=ctx,
        claims=body.claims,
        expires_in=body.expires_in,
        max_ttl=settings.semantic_token_max_ttl_seconds,
    )


@router.get("/keys")
async def list_keys(ctx: OrgContext = requires(P.SEMANTIC_TOKENS), session=Depends(db_session)):
    """Signing keys (secrets masked). Tokens name their key in the JWT `kid` header."""
    return [tokens.key_view(k) for k in await tokens.list_keys(session, ctx=ctx)]


@router.post("/keys", status_code=201)
async def create_key(
    body: KeyIn, ctx: OrgContext = requires(P.SEMANTIC_TOKENS), session=Depends(db_session)
):
    """A new signing key for an app that signs its own tokens; the secret is shown once."""
    key, secret = await tokens.create_key(session, ctx=ctx, label=body.label)
    return tokens.key_view(key) | {"secret": secret}


@router.delete("/keys/{signing_key_id}", status_code=204)
async def revoke_key(
    signing_key_id: str,
    request: Request,
    ctx: OrgContext = requires(P.SEMANTIC_TOKENS),
    session=Depends(db_session),
):
    """Revoke a key: tokens signed with it stop working (within the auth cache time)."""
    key = await tokens.revoke_key(session, ctx=ctx, key_id=signing_key_id)
    runtime_of(request.app).keys.drop(tokens.KID_PREFIX + key.id)


@router.get("/pre-aggregations")
async def list_pre_aggregations(
    ctx: OrgContext = requires(P.DATA_READ),
    settings=Depends(settings_of),
    session=Depends(db_session),
):
    """Every pre-aggregation of the current model: its table, partitions and whether it
    serves queries yet."""
    from tenantry.semantic.preaggs import status

    return await status.describe(session, settings, ctx.org.id)


class BuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pre_aggregations: list[str] | None = Field(
        default=None, description="cube.name paths; omitted: all"
    )
    full: bool = Field(default=False, description="Rebuild every partition, not only due ones")


@router.post("/pre-aggregations/build", status_code=202)
async def build_pre_aggregations(
    body: BuildIn,
    ctx: OrgContext = requires(P.DATA_RUN),
    session=Depends(db_session),
):
    """Start a build run now (one per organization at a time: 409 while one is active)."""
    from tenantry.core.errors import Conflict
    from tenantry.orchestration import service as runs
    from tenantry.semantic.preaggs.refresh import start_build

    details = {"pre_aggregations": body.pre_aggregations, "full": body.full}
    run = await start_build(session, ctx.org.id, trigger="api", details=details)
    if run is None:
        raise Conflict("A pre-aggregation build of this organization is already queued or running.")
    return runs.view(run)
