"""Pre-aggregation builds as runs: prepared from the store, built in a worker thread, and their
partitions recorded when the run finishes."""

from __future__ import annotations

import functools
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import utcnow
from tenantry.core.errors import ValidationFailed
from tenantry.semantic import cache as results
from tenantry.semantic import service
from tenantry.semantic.models import PreAggPartition
from tenantry.semantic.preaggs import build as builder
from tenantry.semantic.preaggs.plan import DEFAULT_EVERY, Definition, definitions
from tenantry.semantic.runtime import ModelCache

KIND = "preagg"
# Compiled models by (organization, version): the background refresh looks at every
# organization each pass and must not recompile unchanged models.
_MODELS = ModelCache(size=1000)
TARGET_NAME = "Pre-aggregations"


async def model_target(session: AsyncSession, settings: Settings, org_id: str):
    """(model, store, dialect, schemas) of an organization, or None without a model."""
    from tenantry.tenancy.models import Organization
    from tenantry.warehouse import service as warehouse
    from tenantry.warehouse.duckdb_store import DuckDBWarehouse

    version = await service.current(session, org_id)
    if version is None:
        return None
    files, templates = dict(version.files), list(version.templates)
    model = await _MODELS.get(
        (org_id, version.number),
        lambda: service.compile_files(files, templates, settings.semantic_templates_dir),
    )
    org = await session.get(Organization, org_id)
    store = await warehouse.open_warehouse(session, settings, org)
    dialect = settings.semantic_sql_dialect or store.dialect
    schemas = None if isinstance(store, DuckDBWarehouse) else dict(store.schemas)
    return model, store, dialect, schemas


async def built_partitions(session: AsyncSession, org_id: str) -> dict[tuple[str, str], dict]:
    rows = await session.execute(
        sa.select(
            PreAggPartition.pre_aggregation,
            PreAggPartition.signature,
            PreAggPartition.partition,
            PreAggPartition.refresh_value,
        ).where(PreAggPartition.org_id == org_id, PreAggPartition.built_at.is_not(None))
    )
    out: dict[tuple[str, str], dict] = {}
    for path, signature, partition, value in rows:
        out.setdefault((path, signature), {})[partition] = value
    return out


async def refresh_value(store, definition: Definition) -> str:
    key = definition.pre.refresh_key
    if key is not None and key.sql:
        from tenantry.warehouse import service as warehouse

        found = await warehouse.read(store, key.sql, limit=1, timeout=60)
        return "sql:" + json.dumps(found.rows[:1], default=str)
    every = key.every if key is not None and key.every else DEFAULT_EVERY
    return "every:" + results.every_value(every)


async def prepare_preagg_run(session: AsyncSession, settings: Settings, run):
    from tenantry.orchestration.control import Job
    from tenantry.semantic.compiler import preaggs as compiled

    found = await model_target(session, settings, run.org_id)
    if found is None:
        raise ValidationFailed.field("model", "this organization has no semantic model")
    model, store, dialect, schemas = found
    wanted = (run.details or {}).get("pre_aggregations")
    built = await built_partitions(session, run.org_id)
    plan = builder.BuildPlan(store=store, schema=_schema(store))
    if (run.details or {}).get("full"):
        built = {}
    for d in definitions(model, dialect=dialect, schemas=schemas):
        if wanted and d.path not in wanted:
            continue
        plan.works.append(
            builder.Work(
                definition=d,
                refresh_value=await refresh_value(store, d),
                built=built.get((d.path, d.signature), {}),
                window_sql=functools.partial(_window_sql, compiled, model, d.pre, dialect, schemas),
                range_sql=(d.pre.build_range_start, d.pre.build_range_end),
            )
        )
    secrets = [getattr(store, "password", "") or ""]
    return Job(execute=functools.partial(builder.build, plan), secrets=secrets)


def _window_sql(compiled, model, pre, dialect, schemas, start, end) -> str:
    sql, _ = compiled.rollup_select(
        model, pre, dialect=dialect, schemas=schemas, window=(start, end)
    )
    return sql


def _schema(store) -> str:
    from tenantry.warehouse.duckdb_store import DuckDBWarehouse

    return "marts" if isinstance(store, DuckDBWarehouse) else store.schemas["marts"]


async def record_partitions(session: AsyncSession, org_id: str, parts: list[dict[str, Any]]):
    """Persist what a build run made (called when the run finishes, whatever its status)."""
    import datetime as dt

    for p in parts:
        row = await session.scalar(
            sa.select(PreAggPartition).where(
                PreAggPartition.org_id == org_id,
                PreAggPartition.pre_aggregation == p["pre_aggregation"],
                PreAggPartition.signature == p["signature"],
                PreAggPartition.partition == p["partition"],
            )
        )
        if row is None:
            row = PreAggPartition(
                org_id=org_id,
                pre_aggregation=p["pre_aggregation"],
                signature=p["signature"],
                partition=p["partition"],
            )
            session.add(row)
        row.table_name = p["table"]
        row.range_start = dt.datetime.fromisoformat(p["start"]) if p["start"] else None
        row.range_end = dt.datetime.fromisoformat(p["end"]) if p["end"] else None
        row.refresh_value = p["refresh_value"]
        row.row_count = p["rows"]
        row.built_at = utcnow()
    await session.commit()


async def on_finished(db, settings: Settings, org_id: str, details: dict) -> None:
    parts = details.get("partitions") or []
    if parts:
        async with db.session() as session:
            await record_partitions(session, org_id, parts)


async def as_target(session: AsyncSession, org_id: str, target_id: str):
    """A pre-aggregation run's target is the organization's semantic model (id = org id)."""
    from tenantry.orchestration.registry import Target

    if target_id != org_id:
        return None
    return Target(kind=KIND, id=org_id, name=TARGET_NAME, max_attempts=2, backoff_seconds=30)
