"""Create, change, delete and start pipelines. Specs are validated whole on every save."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.connections import service as connections
from tenantry.connections.kinds import get_kind
from tenantry.connections.models import Connection
from tenantry.core.db import utcnow
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.orchestration import executors
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import Run
from tenantry.pipelines.models import Pipeline
from tenantry.pipelines.schemas import MODES_BY_KIND, PipelineSpec
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import ensure_unique_name, validate_name
from tenantry.warehouse.duckdb_store import SCHEMAS

DESTINATION_KINDS = ("postgres", "duckdb", "mysql", "sqlite", "bigquery", "snowflake", "redshift")


def parse_spec(data: dict[str, Any]) -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed.nested(exc, "spec") from None


def _deleted(deleted: bool):
    return Pipeline.deleted_at.is_not(None) if deleted else Pipeline.deleted_at.is_(None)


def view(p: Pipeline, *, last_run: Run | None = None) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "source_id": p.source_id,
        "destination_id": p.destination_id,
        "spec": p.spec,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "deleted_at": p.deleted_at,
        "last_run": runs.view(last_run) if last_run else None,
    }


async def get(session: AsyncSession, *, ctx: OrgContext, pipeline_id: str, deleted=False):
    stmt = sa.select(Pipeline).where(Pipeline.org_id == ctx.org.id, Pipeline.id == pipeline_id)
    stmt = stmt.where(
        Pipeline.deleted_at.is_not(None) if deleted else Pipeline.deleted_at.is_(None)
    )
    found = await session.scalar(stmt)
    if found is None:
        raise NotFound(f"Pipeline '{pipeline_id}' not found in this organization.")
    return found


async def list_pipelines(
    session: AsyncSession, *, ctx: OrgContext, params: PageParams, deleted: bool = False
) -> tuple[list[Pipeline], int]:
    stmt = sa.select(Pipeline).where(Pipeline.org_id == ctx.org.id)
    stmt = stmt.where(
        Pipeline.deleted_at.is_not(None) if deleted else Pipeline.deleted_at.is_(None)
    )
    return await paginate(session, stmt.order_by(Pipeline.name), params)


async def _connection(session, ctx: OrgContext, connection_id: str, field: str) -> Connection:
    try:
        return await connections.get(session, ctx=ctx, connection_id=connection_id)
    except NotFound:
        raise ValidationFailed.field(
            field, f"there is no connection '{connection_id}' in this organization"
        ) from None


async def _validate(
    session, ctx: OrgContext, source_id: str, destination_id: str | None, spec: PipelineSpec
) -> None:
    source = await _connection(session, ctx, source_id, "source_id")
    modes = MODES_BY_KIND.get(source.kind)
    if get_kind(source.kind).direction == "destination" or not modes:
        raise ValidationFailed.field(
            "source_id", f"'{source.name}' is a {source.kind} connection, which cannot be read"
        )
    if spec.mode not in modes:
        raise ValidationFailed.field(
            "spec.mode",
            f"a {source.kind} source offers {' or '.join(modes)} mode, not {spec.mode}",
        )
    if destination_id:
        dest = await _connection(session, ctx, destination_id, "destination_id")
        if dest.kind not in DESTINATION_KINDS or get_kind(dest.kind).direction == "source":
            raise ValidationFailed.field(
                "destination_id", f"'{dest.name}' is a {dest.kind} connection; it cannot be loaded"
            )
    elif spec.dataset not in SCHEMAS:
        raise ValidationFailed.field(
            "spec.dataset",
            f"the organization's warehouse has the datasets {', '.join(SCHEMAS)}; "
            f"'{spec.dataset}' is not one of them",
        )


async def _ensure_unique_name(session, ctx: OrgContext, name: str, exclude: str | None = None):
    await ensure_unique_name(
        session, Pipeline, org_id=ctx.org.id, name=name, noun="pipeline", exclude=exclude
    )


def _audit_view(p: Pipeline) -> dict[str, Any]:
    return {
        "name": p.name,
        "source_id": p.source_id,
        "destination_id": p.destination_id,
        "spec": p.spec,
    }


async def create(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    name: str,
    source_id: str,
    spec: dict[str, Any],
    destination_id: str | None = None,
    description: str = "",
) -> Pipeline:
    name = validate_name(name)
    parsed = parse_spec(spec)
    await _validate(session, ctx, source_id, destination_id or None, parsed)
    await _ensure_unique_name(session, ctx, name)
    p = Pipeline(
        org_id=ctx.org.id,
        name=name,
        description=description.strip(),
        source_id=source_id,
        destination_id=destination_id or None,
        spec=parsed.model_dump(mode="json"),
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(p)
    await session.flush()
    audit.log(session, ctx, "pipeline.create", "pipeline", p.id, after=_audit_view(p))
    await session.commit()
    return p


async def update(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    pipeline_id: str,
    name: str | None = None,
    description: str | None = None,
    destination_id: str | None = None,
    spec: dict[str, Any] | None = None,
    clear_destination: bool = False,
    replace_spec: bool = False,
) -> Pipeline:
    p = await get(session, ctx=ctx, pipeline_id=pipeline_id)
    before = _audit_view(p)
    new_name = validate_name(name) if name is not None else p.name
    if spec is None:
        parsed = parse_spec(p.spec)
    else:  # the API merges fields over the saved spec; the form sends it whole
        parsed = parse_spec(spec if replace_spec else {**p.spec, **spec})
    new_dest = None if clear_destination else (destination_id or p.destination_id)
    await _validate(session, ctx, p.source_id, new_dest, parsed)
    if new_name != p.name:
        await _ensure_unique_name(session, ctx, new_name, exclude=p.id)
    p.name, p.destination_id = new_name, new_dest
    p.spec = parsed.model_dump(mode="json")
    if description is not None:
        p.description = description.strip()
    audit.log(
        session, ctx, "pipeline.update", "pipeline", p.id, before=before, after=_audit_view(p)
    )
    await session.commit()
    return p


async def delete(session: AsyncSession, *, ctx: OrgContext, pipeline_id: str) -> None:
    p = await get(session, ctx=ctx, pipeline_id=pipeline_id)
    p.deleted_at = utcnow()
    audit.log(session, ctx, "pipeline.delete", "pipeline", p.id, before=_audit_view(p))
    await session.commit()


async def start_run(
    session: AsyncSession, *, ctx: OrgContext, pipeline_id: str, trigger: str = "manual"
) -> Run:
    p = await get(session, ctx=ctx, pipeline_id=pipeline_id)
    spec = PipelineSpec.model_validate(p.spec)
    run = await runs.enqueue(
        session,
        org_id=ctx.org.id,
        kind="pipeline",
        target_id=p.id,
        target_name=p.name,
        trigger=trigger,
        max_attempts=spec.retry.max_attempts,
        backoff_seconds=spec.retry.backoff_seconds,
        created_by_id=ctx.user.id if ctx.user else None,
    )
    audit.log(session, ctx, "pipeline.run", "run", run.id, after={"pipeline_id": p.id})
    await session.commit()
    await executors.submit(run)
    return run


async def as_target(session: AsyncSession, org_id: str, pipeline_id: str):
    from tenantry.orchestration.registry import Target

    p = await session.scalar(
        sa.select(Pipeline).where(
            Pipeline.id == pipeline_id, Pipeline.org_id == org_id, _deleted(False)
        )
    )
    if p is None:
        return None
    retry = PipelineSpec.model_validate(p.spec).retry
    return Target("pipeline", p.id, p.name, retry.max_attempts, retry.backoff_seconds)


def _loaded_name(name: str) -> str:
    return re.sub(r"\W+", "_", name.split(".")[-1]).strip("_").lower()


async def dag_nodes(session: AsyncSession, settings, org_id: str) -> list:
    """Pipelines as DAG nodes: each produces the warehouse tables it loads ("raw.orders"),
    known from its spec and from what its last successful run loaded."""
    from tenantry.orchestration.registry import Node

    rows = list(
        await session.scalars(sa.select(Pipeline).where(Pipeline.org_id == org_id, _deleted(False)))
    )
    loaded: dict[str, set[str]] = {}
    for run in await session.scalars(
        sa.select(Run)
        .where(Run.org_id == org_id, Run.kind == "pipeline", Run.status == "succeeded")
        .order_by(Run.created_at.desc())
        .limit(500)
    ):
        loaded.setdefault(run.target_id, set()).update(run.tables or {})
    out = []
    for p in rows:
        spec = PipelineSpec.model_validate(p.spec)
        tables = set(loaded.get(p.id, set()))
        if spec.mode == "table" and spec.table:
            tables.add(spec.table_prefix + (spec.table_name or _loaded_name(spec.table)))
        tables.update(spec.table_prefix + _loaded_name(t) for t in spec.tables)
        produces = set() if p.destination_id else {f"{spec.dataset}.{t}" for t in tables}
        out.append(Node("pipeline", p.id, p.name, produces=frozenset(produces)))
    return out
