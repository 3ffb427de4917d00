"""Compile a transformation with dbt, and preview its first rows through the read-only guard."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlglot
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.errors import ValidationFailed
from tenantry.tenancy.context import OrgContext
from tenantry.transforms import service
from tenantry.transforms.errors import from_output
from tenantry.transforms.jobs import build_plan
from tenantry.transforms.models import Transformation
from tenantry.transforms.runner import run_dbt
from tenantry.transforms.schemas import TransformSpec
from tenantry.warehouse import service as warehouse


async def compile_sql(
    session: AsyncSession,
    *,
    settings: Settings,
    ctx: OrgContext,
    transform: Transformation,
    sql: str | None = None,
) -> dict[str, Any]:
    """dbt's compiled SQL of ``transform`` (or of its unsaved ``sql``), checked first."""
    text = sql if sql is not None else transform.sql
    spec = TransformSpec.model_validate(transform.spec)
    parsed = await service.check(
        session, settings, ctx, name=transform.name, sql=text, spec=spec, exclude=transform.id
    )
    plan = await build_plan(session, settings, ctx.org.id, override=(transform.name, text))
    outcome = await asyncio.to_thread(run_dbt, plan, ["compile", "--select", transform.name])
    folder = "snapshots" if transform.kind == "snapshot" else "models"
    path = plan.project_dir / "target" / "compiled" / "tenantry" / folder / f"{transform.name}.sql"
    if outcome.returncode != 0 or not path.exists():
        raise ValidationFailed.field("sql", from_output(outcome.output, outcome.returncode).detail)
    return {
        "compiled_sql": path.read_text().strip(),
        "refs": parsed.refs,
        "sources": [f"{d}.{n}" for d, n in parsed.sources],
        "dialect": "duckdb" if plan.warehouse.kind == "duckdb" else "postgres",
        "database": _database(plan),
    }


def _database(plan) -> str:
    if plan.warehouse.kind == "duckdb":
        return plan.warehouse.path.stem  # dbt-duckdb names the catalog after the file
    return (plan.warehouse.credentials or {}).get("database", "")


def _local(sql: str, dialect: str, database: str) -> str:
    """dbt writes database.schema.table; the guard reads schema.table within the warehouse."""
    tree = sqlglot.parse_one(sql, read=dialect)
    for table in tree.find_all(sqlglot.exp.Table):
        if table.catalog and table.catalog == database:
            table.set("catalog", None)
    return tree.sql(dialect=dialect)


async def preview(
    session: AsyncSession,
    *,
    settings: Settings,
    ctx: OrgContext,
    transform: Transformation,
    sql: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    compiled = await compile_sql(session, settings=settings, ctx=ctx, transform=transform, sql=sql)
    local = _local(compiled["compiled_sql"], compiled["dialect"], compiled["database"])
    result = await warehouse.query(session, settings=settings, ctx=ctx, sql=local, limit=limit)
    return result | {"compiled_sql": compiled["compiled_sql"]}
