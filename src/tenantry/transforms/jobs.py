"""Prepare dbt commands from the store: the project's files, the warehouse, the job of a run."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.orchestration.control import Job, RunControl
from tenantry.orchestration.models import Run
from tenantry.transforms import project
from tenantry.transforms.errors import TransformFailed, from_output
from tenantry.transforms.models import SourceTable, Transformation
from tenantry.transforms.results import failure_message
from tenantry.transforms.runner import DbtPlan, WarehouseTarget, run_dbt
from tenantry.transforms.schemas import TransformSpec
from tenantry.warehouse import service as warehouse


def dbt_root(settings: Settings, org_id: str) -> Path:
    return settings.data_dir.resolve() / "orgs" / org_id / "dbt"


def model_def(t: Transformation, *, sql: str | None = None) -> project.ModelDef:
    spec = TransformSpec.model_validate(t.spec)
    return project.ModelDef(t.name, t.kind, sql if sql is not None else t.sql, t.description, spec)


async def live_transformations(session: AsyncSession, org_id: str) -> list[Transformation]:
    rows = await session.scalars(
        sa.select(Transformation)
        .where(Transformation.org_id == org_id, Transformation.deleted_at.is_(None))
        .order_by(Transformation.name)
    )
    return list(rows)


async def source_defs(
    session: AsyncSession, settings: Settings, org, models: list[project.ModelDef]
) -> list[project.SourceDef]:
    """Every table the warehouse holds that no transformation builds, by dataset."""
    built = {(m.spec.schema_, m.name) for m in models}
    rows = await session.scalars(sa.select(SourceTable).where(SourceTable.org_id == org.id))
    extra = {(s.dataset, s.table): s for s in rows}
    by_dataset: dict[str, project.SourceDef] = {}
    for table in await warehouse.loaded_tables(session, settings, org):
        dataset, name = table["dataset"], table["name"]
        if name in project.DLT_TABLES or (dataset, name) in built:
            continue
        src = by_dataset.setdefault(dataset, project.SourceDef(dataset, table["schema"]))
        src.tables[name] = [c["name"] for c in table["columns"]]
        row = extra.get((dataset, name))
        if row is not None:
            src.settings[name] = {
                "description": row.description,
                "loaded_at_field": row.loaded_at_field,
                "warn_after": row.warn_after,
                "error_after": row.error_after,
            }
    return [by_dataset[k] for k in sorted(by_dataset)]


async def build_plan(
    session: AsyncSession,
    settings: Settings,
    org_id: str,
    *,
    override: tuple[str, str] | None = None,
) -> DbtPlan:
    """The organization's project as the store has it (``override``: (name, unsaved SQL))."""
    from tenantry.tenancy.models import Organization

    org = await session.get(Organization, org_id)
    models = []
    for t in await live_transformations(session, org_id):
        sql = override[1] if override and override[0] == t.name else None
        models.append(model_def(t, sql=sql))
    target = await warehouse.load_target(session, settings, org)
    sources = await source_defs(session, settings, org, models)
    return DbtPlan(
        org_id=org_id,
        root=dbt_root(settings, org_id),
        files=project.files(models, sources, target.datasets),
        warehouse=WarehouseTarget(
            kind=target.kind,
            datasets=target.datasets,
            path=target.path,
            lock_path=target.lock_path,
            credentials=target.credentials,
        ),
        threads=settings.dbt_threads,
        lock_timeout=settings.dbt_lock_timeout_seconds,
    )


def command_args(command: str, select: str | None) -> list[str]:
    args = ["source", "freshness"] if command == "freshness" else [command]
    if select:
        args += ["--select", select]
    return args


def execute(plan: DbtPlan, args: list[str], ctl: RunControl) -> dict[str, Any]:
    ctl.check_cancel()
    ctl.log(f"dbt {' '.join(args)}")
    outcome = run_dbt(plan, args, ctl)
    results = outcome.freshness if args[0] == "source" else outcome.results
    ctl.record(results=[r.as_dict() for r in results])
    failed = [r for r in results if r.failed]
    if failed:
        raise TransformFailed(failure_message(results))
    if outcome.returncode != 0:
        raise from_output(outcome.output, outcome.returncode)
    if args[0] != "source" and not results:
        raise TransformFailed(
            "dbt selected nothing to run; check the selection, or whether the model still exists"
        )
    for r in results:
        if r.status == "warn":
            ctl.log(f"{r.resource_type} '{r.name}' warned: {r.message}", "warning")
    tables = {
        r.name: {"rows": r.rows_affected or 0, "bytes": 0}
        for r in results
        if r.resource_type in ("model", "snapshot")
    }
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return {"tables": tables, "summary": f"dbt {args[0]} finished: {summary}."}


async def prepare_transformation_run(session: AsyncSession, settings: Settings, run: Run) -> Job:
    """A transformation as a DAG node: build it (run it, then its tests)."""
    t = await session.scalar(
        sa.select(Transformation).where(
            Transformation.id == run.target_id, Transformation.org_id == run.org_id
        )
    )
    if t is None or t.deleted_at is not None:
        raise TransformFailed("The transformation was deleted before this run started.")
    plan = await build_plan(session, settings, run.org_id)
    # "buildable": a test that also reads a model not yet built (relationships) runs with the
    # later model's node, not with this one.
    return _job(plan, ["build", "--select", t.name, "--indirect-selection", "buildable"])


async def prepare_dbt_run(session: AsyncSession, settings: Settings, run: Run) -> Job:
    """A dbt command over the project (or a selection): build, run, test, snapshot, freshness."""
    details = run.details or {}
    plan = await build_plan(session, settings, run.org_id)
    return _job(plan, command_args(details.get("command", "build"), details.get("select")))


def _job(plan: DbtPlan, args: list[str]) -> Job:
    password = (plan.warehouse.credentials or {}).get("password")
    return Job(execute=functools.partial(execute, plan, args), secrets=[password or ""])
