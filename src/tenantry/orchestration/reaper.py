"""Runs whose worker died: no heartbeat for too long → failed (transient) and retried per policy.

Every server and worker runs this; the guarded UPDATE makes sure only one of them settles a run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa

from tenantry.core.config import Settings
from tenantry.core.db import Database, utcnow
from tenantry.orchestration.models import Run, RunLog

log = logging.getLogger("tenantry.runs")


def interval(settings: Settings) -> float:
    return max(settings.run_stale_after_seconds / 4, 0.5)


async def reap_forever(db: Database, settings: Settings) -> None:
    while True:
        try:
            await reap(db, settings)
        except Exception:  # a store hiccup must not end the loop
            log.exception("reaper pass failed; retrying")
        await asyncio.sleep(interval(settings))


async def reap(db: Database, settings: Settings) -> list[str]:
    from tenantry.orchestration.execute import after_finish, schedule_retry

    cutoff = utcnow() - timedelta(seconds=settings.run_stale_after_seconds)
    settled = []
    async with db.session() as session:
        stale = list(
            await session.scalars(
                sa.select(Run).where(
                    Run.status == "running", Run.heartbeat_at < cutoff, Run.kind != "dag"
                )
            )
        )
        for run in stale:
            since = run.heartbeat_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            message = (
                f"The worker running this ({run.worker}) stopped responding: no heartbeat since "
                f"{since}. It was probably stopped or crashed; nothing it had not committed "
                "was kept."
            )
            result = await session.execute(
                sa.update(Run)
                .where(Run.id == run.id, Run.status == "running", Run.heartbeat_at < cutoff)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=message,
                    error_class="transient",
                )
            )
            if result.rowcount != 1:
                continue
            seq = await session.scalar(
                sa.select(sa.func.coalesce(sa.func.max(RunLog.seq), 0)).where(
                    RunLog.run_id == run.id
                )
            )
            session.add(
                RunLog(
                    run_id=run.id,
                    seq=seq + 1,
                    org_id=run.org_id,
                    at=utcnow(),
                    level="error",
                    message=message,
                )
            )
            await session.commit()
            settled.append(run.id)
            if run.attempt < run.max_attempts:
                await schedule_retry(session, run)
        quiet = list(
            await session.scalars(
                sa.select(Run.id).where(
                    Run.status == "running", Run.heartbeat_at < cutoff, Run.kind == "dag"
                )
            )
        )
    for run_id in settled:
        await after_finish(db, settings, run_id)
    # A DAG run advances when its nodes finish; one left quiet (a node settled by a process
    # that died before advancing it) is nudged here.
    from tenantry.orchestration import dag_runs

    for dag_run_id in quiet:
        async with db.session() as session:
            await dag_runs.advance(session, dag_run_id)
    return settled
