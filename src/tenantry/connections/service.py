"""Create, change, test and (soft-)delete connections. Secrets are write-only throughout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.connections.kinds import Kind, TestContext, get_kind
from tenantry.connections.models import Connection
from tenantry.connections.storage import inside, org_files
from tenantry.core.config import Settings
from tenantry.core.db import utcnow
from tenantry.core.errors import NotFound, TenantryError, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.secrets import MASK, secret_fields
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import ensure_unique_name, validate_name


def parse_config(kind: Kind, data: dict[str, Any]) -> BaseModel:
    try:
        return kind.config.model_validate(data)
    except PydanticValidationError as exc:
        errors = [
            {"field": "config." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        ) from None


def _check_paths(settings: Settings, org_id: str, config: BaseModel) -> None:
    """File-based kinds may only point inside the organization's own storage."""
    path = getattr(config, "path", None)
    if isinstance(path, str):
        inside(org_files(settings, org_id), path, field="config.path")


def _split(kind: Kind, config: BaseModel) -> tuple[dict[str, Any], dict[str, Any]]:
    names = secret_fields(kind.config)
    data = config.model_dump(exclude=names)
    secrets = {}
    for name in names:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            secrets[name] = value.get_secret_value()
    return data, secrets


def view(conn: Connection) -> dict[str, Any]:
    kind = get_kind(conn.kind)
    config = dict(conn.config)
    for name in secret_fields(kind.config):
        config[name] = MASK if conn.secrets.get(name) else None
    return {
        "id": conn.id,
        "name": conn.name,
        "kind": conn.kind,
        "description": conn.description,
        "config": config,
        "last_tested_at": conn.last_tested_at,
        "last_test_ok": conn.last_test_ok,
        "last_test_message": conn.last_test_message,
        "created_at": conn.created_at,
        "updated_at": conn.updated_at,
        "deleted_at": conn.deleted_at,
    }


def _audit_view(conn: Connection) -> dict[str, Any]:
    return {k: v for k, v in view(conn).items() if k in ("name", "kind", "config", "description")}


async def get(session: AsyncSession, *, ctx: OrgContext, connection_id: str, deleted=False):
    stmt = sa.select(Connection).where(
        Connection.org_id == ctx.org.id, Connection.id == connection_id
    )
    stmt = stmt.where(
        Connection.deleted_at.is_not(None) if deleted else Connection.deleted_at.is_(None)
    )
    conn = await session.scalar(stmt)
    if conn is None:
        raise NotFound(f"Connection '{connection_id}' not found in this organization.")
    return conn


async def list_connections(
    session: AsyncSession, *, ctx: OrgContext, params: PageParams, kind: str | None, deleted=False
):
    stmt = sa.select(Connection).where(Connection.org_id == ctx.org.id)
    stmt = stmt.where(
        Connection.deleted_at.is_not(None) if deleted else Connection.deleted_at.is_(None)
    )
    if kind:
        stmt = stmt.where(Connection.kind == kind)
    return await paginate(session, stmt.order_by(Connection.name), params)


async def _ensure_unique_name(session, ctx: OrgContext, name: str, exclude: str | None = None):
    await ensure_unique_name(
        session, Connection, org_id=ctx.org.id, name=name, noun="connection", exclude=exclude
    )


async def create(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    settings: Settings,
    name: str,
    kind: str,
    config: dict[str, Any],
    description: str = "",
) -> Connection:
    name = validate_name(name)
    k = get_kind(kind)
    parsed = parse_config(k, config)
    _check_paths(settings, ctx.org.id, parsed)
    data, secrets = _split(k, parsed)
    await _ensure_unique_name(session, ctx, name)
    conn = Connection(
        org_id=ctx.org.id,
        name=name,
        kind=kind,
        config=data,
        secrets=secrets,
        description=description.strip(),
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(conn)
    await session.flush()
    audit.log(session, ctx, "connection.create", "connection", conn.id, after=_audit_view(conn))
    await session.commit()
    return conn


async def update(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    settings: Settings,
    connection_id: str,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    description: str | None = None,
) -> Connection:
    conn = await get(session, ctx=ctx, connection_id=connection_id)
    before = _audit_view(conn)
    if name is not None:
        conn.name = validate_name(name)
        await _ensure_unique_name(session, ctx, conn.name, exclude=conn.id)
    if description is not None:
        conn.description = description.strip()
    if config is not None:
        k = get_kind(conn.kind)
        merged = {**conn.config, **config}
        for field in secret_fields(k.config):
            # Write-only: leaving a secret out (or sending back the mask) keeps the stored one.
            if config.get(field) in (None, MASK) and field in conn.secrets:
                merged[field] = conn.secrets[field]
        parsed = parse_config(k, merged)
        _check_paths(settings, ctx.org.id, parsed)
        conn.config, conn.secrets = _split(k, parsed)
    audit.log(
        session,
        ctx,
        "connection.update",
        "connection",
        conn.id,
        before=before,
        after=_audit_view(conn),
    )
    await session.commit()
    return conn


async def delete(session: AsyncSession, *, ctx: OrgContext, connection_id: str) -> None:
    conn = await get(session, ctx=ctx, connection_id=connection_id)
    conn.deleted_at = utcnow()
    audit.log(session, ctx, "connection.delete", "connection", conn.id, before=_audit_view(conn))
    await session.commit()


async def restore(session: AsyncSession, *, ctx: OrgContext, connection_id: str) -> Connection:
    conn = await get(session, ctx=ctx, connection_id=connection_id, deleted=True)
    await _ensure_unique_name(session, ctx, conn.name, exclude=conn.id)
    conn.deleted_at = None
    audit.log(session, ctx, "connection.restore", "connection", conn.id, after=_audit_view(conn))
    await session.commit()
    return conn


def full_config(conn: Connection) -> BaseModel:
    """The config with secrets, for platform code that connects (never for a response)."""
    k = get_kind(conn.kind)
    return k.config.model_validate({**conn.config, **conn.secrets})


async def run_test(
    kind: Kind, config: BaseModel, *, settings: Settings, org_id: str
) -> dict[str, Any]:
    """Really connect, with a timeout. The message never carries a secret value."""
    timeout = settings.connection_test_timeout_seconds
    ctx = TestContext(settings=settings, files=org_files(settings, org_id), timeout=timeout)
    began = time.perf_counter()
    try:
        message = await asyncio.wait_for(kind.test(config, ctx), timeout + 1)
        ok = True
    except TimeoutError:
        ok, message = False, f"No answer within {timeout:.0f} s; check the host, port and firewall."
    except TenantryError as exc:
        ok, message = False, exc.detail
    except Exception as exc:  # drivers' own errors: keep their first line, which says what failed
        ok, message = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    _, secrets = _split(kind, config)
    for value in secrets.values():
        if value:
            message = message.replace(str(value), MASK)
    return {
        "ok": ok,
        "message": message[:1000],
        "elapsed_ms": round((time.perf_counter() - began) * 1000, 1),
    }


async def test_saved(
    session: AsyncSession, *, ctx: OrgContext, settings: Settings, connection_id: str
) -> dict[str, Any]:
    conn = await get(session, ctx=ctx, connection_id=connection_id)
    result = await run_test(
        get_kind(conn.kind), full_config(conn), settings=settings, org_id=ctx.org.id
    )
    conn.last_tested_at, conn.last_test_ok = utcnow(), result["ok"]
    conn.last_test_message = result["message"]
    await session.commit()
    return result


async def test_unsaved(
    *, ctx: OrgContext, settings: Settings, kind: str, config: dict[str, Any]
) -> dict[str, Any]:
    k = get_kind(kind)
    return await run_test(k, parse_config(k, config), settings=settings, org_id=ctx.org.id)
