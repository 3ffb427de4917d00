"""Create, list, cancel and retry runs; read their logs. Execution lives in ``execute``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import as_utc, new_id, utcnow
from tenantry.core.errors import Conflict, NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.orchestration.models import STATUSES, TRIGGERS, Run, RunLog
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext


def view(run: Run) -> dict[str, Any]:
    duration = None
    if run.started_at:
        duration = round(((run.finished_at or utcnow()) - run.started_at).total_seconds(), 3)
    return {
        "id": run.id,
        "kind": run.kind,
        "target_id": run.target_id,
        "target_name": run.target_name,
        "trigger": run.trigger,
        "status": run.status,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "root_id": run.root_id,
        "retry_of_id": run.retry_of_id,
        "parent_id": run.parent_id,
        "created_at": run.created_at,
        "not_before": run.not_before,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "duration_seconds": duration,
        "cancel_requested": run.cancel_requested,
        "tables": run.tables,
        "results": (run.details or {}).get("results"),
        "rows_loaded": run.rows_loaded,
        "bytes_loaded": run.bytes_loaded,
        "error_class": run.error_class,
        "error": run.error,
    }


async def enqueue(
    session: AsyncSession,
    *,
    org_id: str,
    kind: str,
    target_id: str,
    target_name: str,
    trigger: str,
    max_attempts: int = 1,
    backoff_seconds: float = 0.0,
    created_by_id: str | None = None,
    retry_of: Run | None = None,
    not_before: datetime | None = None,
    parent_id: str | None = None,
    status: str = "queued",
    details: dict[str, Any] | None = None,
    commit: bool = True,
) -> Run:
    """A queued run, committed (unless ``commit=False``); the caller hands it to the executor."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    run_id = new_id()
    run = Run(
        id=run_id,
        org_id=org_id,
        kind=kind,
        target_id=target_id,
        target_name=target_name,
        trigger=trigger,
        status=status,
        attempt=retry_of.attempt + 1 if retry_of else 1,
        root_id=retry_of.root_id if retry_of else run_id,
        retry_of_id=retry_of.id if retry_of else None,
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
        not_before=not_before,
        created_by_id=created_by_id,
        parent_id=retry_of.parent_id if retry_of else parent_id,
        details=details or {},
        tables={},
    )
    session.add(run)
    if commit:
        await session.commit()
    return run


async def launch(
    session: AsyncSession,
    *,
    org_id: str,
    kind: str,
    target_id: str,
    trigger: str,
    created_by_id: str | None = None,
    parent_id: str | None = None,
    submit: bool = True,
    commit: bool = True,
) -> Run:
    """Queue a run of a registered target (pipeline, transformation) and hand it over."""
    from tenantry.orchestration import executors, registry

    found = await registry.target(session, org_id, kind, target_id)
    if found is None:
        raise NotFound(f"There is no such {kind} in this organization.")
    run = await enqueue(
        session,
        org_id=org_id,
        kind=kind,
        target_id=found.id,
        target_name=found.name,
        trigger=trigger,
        max_attempts=found.max_attempts,
        backoff_seconds=found.backoff_seconds,
        created_by_id=created_by_id,
        parent_id=parent_id,
        commit=commit,
    )
    if submit:
        await executors.submit(run)
    return run


async def get(session: AsyncSession, *, ctx: OrgContext, run_id: str) -> Run:
    run = await session.scalar(sa.select(Run).where(Run.id == run_id, Run.org_id == ctx.org.id))
    if run is None:
        raise NotFound("There is no such run in this organization.")
    return run


async def list_runs(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    params: PageParams,
    status: str | None = None,
    kind: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    parent_id: str | None = None,
) -> tuple[list[Run], int]:
    stmt = sa.select(Run).where(Run.org_id == ctx.org.id)
    if status:
        if status not in STATUSES:
            raise ValidationFailed.field("status", f"use one of {', '.join(STATUSES)}")
        stmt = stmt.where(Run.status == status)
    if kind:
        stmt = stmt.where(Run.kind == kind)
    if target_id:
        stmt = stmt.where(Run.target_id == target_id)
    if since:
        stmt = stmt.where(Run.created_at >= as_utc(since))
    if until:
        stmt = stmt.where(Run.created_at < as_utc(until))
    if parent_id:
        stmt = stmt.where(Run.parent_id == parent_id)
    return await paginate(session, stmt.order_by(Run.created_at.desc(), Run.id), params)


async def attempts(session: AsyncSession, *, org_id: str, root_id: str) -> list[Run]:
    rows = await session.scalars(
        sa.select(Run).where(Run.org_id == org_id, Run.root_id == root_id).order_by(Run.attempt)
    )
    return list(rows)


async def latest_by_target(
    session: AsyncSession, *, org_id: str, target_ids: list[str]
) -> dict[str, Run]:
    if not target_ids:
        return {}
    newest = (
        sa.select(Run.target_id, sa.func.max(Run.created_at).label("at"))
        .where(Run.org_id == org_id, Run.target_id.in_(target_ids))
        .group_by(Run.target_id)
        .subquery()
    )
    rows = await session.scalars(
        sa.select(Run).join(
            newest, sa.and_(Run.target_id == newest.c.target_id, Run.created_at == newest.c.at)
        )
    )
    return {r.target_id: r for r in rows}


async def cancel(session: AsyncSession, *, ctx: OrgContext, run_id: str) -> Run:
    run = await get(session, ctx=ctx, run_id=run_id)
    if run.finished:
        raise Conflict(f"This run has already {run.status}; there is nothing to cancel.")
    from tenantry.orchestration import dag_runs  # DAG runs build on this module

    if run.kind == "dag":
        audit.log(session, ctx, "run.cancel", "run", run.id)
        return await dag_runs.cancel(session, ctx=ctx, dag_run=run)
    # Queued: cancelled at once, guarded so a worker claiming it at this instant wins cleanly.
    result = await session.execute(
        sa.update(Run)
        .where(Run.id == run.id, Run.status == "queued")
        .values(
            status="cancelled",
            finished_at=utcnow(),
            cancel_requested=True,
            error="Cancelled before it started.",
        )
    )
    if result.rowcount == 0:
        await session.execute(sa.update(Run).where(Run.id == run.id).values(cancel_requested=True))
    audit.log(session, ctx, "run.cancel", "run", run.id)
    await session.commit()
    await session.refresh(run)
    if run.parent_id and run.finished:
        await dag_runs.advance(session, run.parent_id)
    return run


async def retry(session: AsyncSession, *, ctx: OrgContext, run_id: str) -> Run:
    """A new attempt of a failed or cancelled run, whatever its error class."""
    run = await get(session, ctx=ctx, run_id=run_id)
    if run.status not in ("failed", "cancelled"):
        raise Conflict(
            f"Only failed or cancelled runs can be retried; this one is {run.status}. "
            "Start a new run instead."
        )
    if run.kind == "dag":
        from tenantry.orchestration import dag_runs

        new = await dag_runs.rerun(session, ctx=ctx, dag_run=run)
        audit.log(session, ctx, "run.retry", "run", new.id, after={"retry_of": run.id})
        await session.commit()
        return new
    new = await enqueue(
        session,
        org_id=run.org_id,
        kind=run.kind,
        target_id=run.target_id,
        target_name=run.target_name,
        trigger="manual",
        max_attempts=max(run.max_attempts, run.attempt + 1),
        backoff_seconds=run.backoff_seconds,
        created_by_id=ctx.user.id if ctx.user else None,
        retry_of=run,
    )
    audit.log(session, ctx, "run.retry", "run", new.id, after={"retry_of": run.id})
    await session.commit()
    from tenantry.orchestration import executors  # executors build on this module

    await executors.submit(new)
    return new


async def logs(
    session: AsyncSession, *, org_id: str, run_id: str, after: int = 0, limit: int = 1000
) -> list[RunLog]:
    rows = await session.scalars(
        sa.select(RunLog)
        .where(RunLog.run_id == run_id, RunLog.org_id == org_id, RunLog.seq > after)
        .order_by(RunLog.seq)
        .limit(limit)
    )
    return list(rows)


def log_view(line: RunLog) -> dict[str, Any]:
    return {"seq": line.seq, "at": line.at, "level": line.level, "message": line.message}


async def due_queued(session: AsyncSession, *, limit: int) -> list[Run]:
    """Queued runs whose backoff has passed, oldest first, skipping targets already running."""
    now = utcnow()
    busy = sa.select(Run.target_id).where(Run.status == "running")
    rows = await session.scalars(
        sa.select(Run)
        .where(
            Run.status == "queued",
            sa.or_(Run.not_before.is_(None), Run.not_before <= now),
            Run.target_id.not_in(busy),
        )
        .order_by(Run.created_at)
        .limit(limit)
    )
    return list(rows)


def retry_delay(run: Run) -> float:
    """Seconds before the attempt after ``run``: base, 2×base, 4×base … (exponential)."""
    return run.backoff_seconds * (2 ** (run.attempt - 1))
