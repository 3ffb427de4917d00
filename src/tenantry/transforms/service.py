"""Create, check, change and delete transformations; their sources; start their runs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import utcnow
from tenantry.core.errors import Conflict, NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.orchestration import executors, graph, registry
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import Run
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import ensure_unique_name
from tenantry.transforms import parse, project
from tenantry.transforms.jobs import live_transformations
from tenantry.transforms.models import SourceTable, Transformation
from tenantry.transforms.schemas import SourceSettings, TransformIn, TransformPatch, check_kind
from tenantry.warehouse import service as warehouse


def view(t: Transformation, *, last_run: Run | None = None) -> dict[str, Any]:
    found = parse.references(t.sql)
    return {
        "id": t.id,
        "name": t.name,
        "kind": t.kind,
        "sql": t.sql,
        "description": t.description,
        "spec": t.spec,
        "depends_on": {
            "refs": found.refs,
            "sources": [f"{d}.{n}" for d, n in found.sources],
        },
        "last_run": runs.view(last_run) if last_run else None,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    }


def _live(org_id: str):
    return sa.select(Transformation).where(
        Transformation.org_id == org_id, Transformation.deleted_at.is_(None)
    )


async def list_transformations(
    session: AsyncSession, *, ctx: OrgContext, params: PageParams, q: str | None = None
) -> tuple[list[Transformation], int]:
    stmt = _live(ctx.org.id)
    if q:
        stmt = stmt.where(Transformation.name.contains(q.strip().lower(), autoescape=True))
    return await paginate(session, stmt.order_by(Transformation.name), params)


async def get(session: AsyncSession, *, ctx: OrgContext, transform_id: str) -> Transformation:
    t = await session.scalar(_live(ctx.org.id).where(Transformation.id == transform_id))
    if t is None:
        raise NotFound("There is no such transformation in this organization.")
    return t


def _line_of(sql: str, needle: str) -> int | None:
    for number, line in enumerate(sql.splitlines(), 1):
        if needle in line:
            return number
    return None


async def check(
    session: AsyncSession,
    settings: Settings,
    ctx: OrgContext,
    *,
    name: str,
    sql: str,
    spec,
    exclude: str | None = None,
) -> parse.Parsed:
    """Everything a save checks: SQL, references, tests, cycles. Errors name model and line."""
    store = await warehouse.open_warehouse(session, settings, ctx.org)
    try:
        parsed = parse.analyse(sql, store.dialect)
    except parse.SqlProblem as problem:
        raise ValidationFailed.field("sql", problem.describe(name)) from None
    others = [t for t in await live_transformations(session, ctx.org.id) if t.id != exclude]
    names = {t.name for t in others}
    for ref in parsed.refs:
        if ref not in names:
            line = _line_of(sql, ref)
            where = f"line {line}" if line else "the SQL"
            raise ValidationFailed.field(
                "sql",
                f"model '{name}', {where}: ref('{ref}') names no transformation of this "
                "organization; create it first or fix the name",
            )
    if parsed.sources:
        loaded = {
            (t["dataset"], t["name"])
            for t in await warehouse.loaded_tables(session, settings, ctx.org)
        }
        for dataset, table in parsed.sources:
            if (dataset, table) not in loaded:
                line = _line_of(sql, table)
                where = f"line {line}" if line else "the SQL"
                raise ValidationFailed.field(
                    "sql",
                    f"model '{name}', {where}: source('{dataset}', '{table}') is not in the "
                    f"warehouse; load it with a pipeline first (datasets: raw, staging, marts)",
                )
    for column in spec.columns:
        for test in column.tests:
            if test.type == "relationships" and test.to not in names | {name}:
                raise ValidationFailed.field(
                    "spec.columns",
                    f"column '{column.name}': relationships test refers to '{test.to}', "
                    "which is no transformation of this organization",
                )
    upstream = {t.name: set(parse.references(t.sql).refs) for t in others}
    upstream[name] = set(parsed.refs)
    cycle = graph.find_cycle(upstream)
    if cycle:
        raise ValidationFailed.field(
            "sql", f"model '{name}': this would make a cycle: {' → '.join(cycle)}"
        )
    return parsed


def _spec(kind: str, data) -> Any:
    from tenantry.transforms.schemas import TransformSpec

    try:
        spec = data if isinstance(data, TransformSpec) else TransformSpec.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed.nested(exc, "spec") from None
    try:
        check_kind(kind, spec)
    except ValueError as exc:  # "spec.<field>: <message>"
        field, message = str(exc).split(": ", 1)
        raise ValidationFailed.field(field, message) from None
    return spec


async def create(
    session: AsyncSession, *, settings: Settings, ctx: OrgContext, data: TransformIn
) -> Transformation:
    await ensure_unique_name(
        session, Transformation, org_id=ctx.org.id, name=data.name, noun="transformation"
    )
    await check(session, settings, ctx, name=data.name, sql=data.sql, spec=data.spec)
    t = Transformation(
        org_id=ctx.org.id,
        name=data.name,
        kind=data.kind,
        sql=data.sql,
        description=data.description,
        spec=data.spec.dump(),
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(t)
    await session.flush()
    audit.log(session, ctx, "transformation.create", "transformation", t.id, after=_audit(t))
    await session.commit()
    return t


def _audit(t: Transformation) -> dict[str, Any]:
    return {"name": t.name, "kind": t.kind, "spec": t.spec, "sql_chars": len(t.sql)}


async def _dependents(session: AsyncSession, org_id: str, name: str, exclude: str) -> list[str]:
    return [
        t.name
        for t in await live_transformations(session, org_id)
        if t.id != exclude and name in parse.references(t.sql).refs
    ]


async def update(
    session: AsyncSession,
    *,
    settings: Settings,
    ctx: OrgContext,
    transform_id: str,
    patch: TransformPatch,
) -> Transformation:
    t = await get(session, ctx=ctx, transform_id=transform_id)
    before = _audit(t)
    name = patch.name or t.name
    if name != t.name:
        await ensure_unique_name(
            session,
            Transformation,
            org_id=ctx.org.id,
            name=name,
            noun="transformation",
            exclude=t.id,
        )
        users = await _dependents(session, ctx.org.id, t.name, t.id)
        if users:
            raise Conflict(
                f"'{t.name}' cannot be renamed: {', '.join(users)} ref() it; change them first."
            )
    sql = patch.sql if patch.sql is not None else t.sql
    spec = _spec(t.kind, patch.spec if patch.spec is not None else t.spec)
    await check(session, settings, ctx, name=name, sql=sql, spec=spec, exclude=t.id)
    t.name, t.sql, t.spec = name, sql, spec.dump()
    if patch.description is not None:
        t.description = patch.description
    after = _audit(t)
    audit.log(
        session, ctx, "transformation.update", "transformation", t.id, before=before, after=after
    )
    await session.commit()
    return t


async def delete(session: AsyncSession, *, ctx: OrgContext, transform_id: str) -> None:
    t = await get(session, ctx=ctx, transform_id=transform_id)
    users = await _dependents(session, ctx.org.id, t.name, t.id)
    if users:
        raise Conflict(f"'{t.name}' is used by {', '.join(users)}; change or delete them first.")
    t.deleted_at = utcnow()
    audit.log(session, ctx, "transformation.delete", "transformation", t.id, before=_audit(t))
    await session.commit()


async def start_run(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    command: str = "build",
    select: str | None = None,
    transform: Transformation | None = None,
    trigger: str = "manual",
) -> Run:
    """A dbt command as a run: ``build`` of one transformation is the DAG's node run."""
    user = ctx.user.id if ctx.user else None
    if transform is not None and command == "build":
        run = await runs.launch(
            session,
            org_id=ctx.org.id,
            kind="transformation",
            target_id=transform.id,
            trigger=trigger,
            created_by_id=user,
            submit=False,
        )
    else:
        selection = transform.name if transform is not None else select
        label = f"dbt {command}" + (f" --select {selection}" if selection else "")
        run = await runs.enqueue(
            session,
            org_id=ctx.org.id,
            kind="dbt",
            target_id=transform.id if transform is not None else ctx.org.id,
            target_name=label,
            trigger=trigger,
            created_by_id=user,
            details={"command": command, "select": selection},
        )
    audit.log(session, ctx, "transformation.run", "run", run.id, after={"command": command})
    await session.commit()
    await executors.submit(run)
    return run


async def sources(session: AsyncSession, *, settings: Settings, ctx: OrgContext) -> list[dict]:
    rows = await session.scalars(sa.select(SourceTable).where(SourceTable.org_id == ctx.org.id))
    extra = {(s.dataset, s.table): s for s in rows}
    built = {t.name for t in await live_transformations(session, ctx.org.id)}
    out = []
    for table in await warehouse.loaded_tables(session, settings, ctx.org):
        if table["name"].startswith("_dlt_") or table["name"] in built:
            continue
        row = extra.get((table["dataset"], table["name"]))
        out.append(
            {
                "dataset": table["dataset"],
                "table": table["name"],
                "source": f"{{{{ source('{table['dataset']}', '{table['name']}') }}}}",
                "columns": table["columns"],
                "description": row.description if row else "",
                "loaded_at_field": row.loaded_at_field if row else None,
                "warn_after": row.warn_after if row else None,
                "error_after": row.error_after if row else None,
            }
        )
    return out


async def set_source(
    session: AsyncSession,
    *,
    settings: Settings,
    ctx: OrgContext,
    dataset: str,
    table: str,
    data: SourceSettings,
) -> dict:
    known = {
        (s["dataset"], s["table"]): s for s in await sources(session, settings=settings, ctx=ctx)
    }
    if (dataset, table) not in known:
        raise NotFound(f"There is no loaded table {dataset}.{table} in this warehouse.")
    columns = [c["name"] for c in known[(dataset, table)]["columns"]]
    thresholds = data.warn_after or data.error_after
    if thresholds and not project.loaded_at_field(data.loaded_at_field, columns):
        raise ValidationFailed.field(
            "loaded_at_field",
            "this table has no load time of its own; name a timestamp column or expression "
            "to measure freshness by",
        )
    row = await session.scalar(
        sa.select(SourceTable).where(
            SourceTable.org_id == ctx.org.id,
            SourceTable.dataset == dataset,
            SourceTable.table == table,
        )
    )
    if row is None:
        row = SourceTable(org_id=ctx.org.id, dataset=dataset, table=table)
        session.add(row)
    row.description = data.description
    row.loaded_at_field = data.loaded_at_field
    row.warn_after = data.warn_after.model_dump() if data.warn_after else None
    row.error_after = data.error_after.model_dump() if data.error_after else None
    await session.flush()
    audit.log(session, ctx, "source.update", "source", row.id, after=data.model_dump(mode="json"))
    await session.commit()
    return next(
        s
        for s in await sources(session, settings=settings, ctx=ctx)
        if (s["dataset"], s["table"]) == (dataset, table)
    )


async def as_target(session: AsyncSession, org_id: str, transform_id: str):
    t = await session.scalar(_live(org_id).where(Transformation.id == transform_id))
    return registry.Target("transformation", t.id, t.name) if t else None


async def dag_nodes(session: AsyncSession, settings: Settings, org_id: str) -> list:
    out = []
    for t in await live_transformations(session, org_id):
        found = parse.references(t.sql)
        dataset = (t.spec or {}).get("schema", "staging")
        out.append(
            registry.Node(
                kind="transformation",
                id=t.id,
                name=t.name,
                produces=frozenset({f"model:{t.name}", f"{dataset}.{t.name}"}),
                consumes=frozenset(
                    {f"model:{r}" for r in found.refs} | {f"{d}.{n}" for d, n in found.sources}
                ),
            )
        )
    return out
