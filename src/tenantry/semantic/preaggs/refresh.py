"""Background refresh: every organization with pre-aggregations gets its due partitions built.

Fairness comes from three bounds: at most one pre-aggregation run per organization is queued
or running, at most ``preagg_refresh_concurrency`` across organizations, and each run builds a
bounded number of partitions (``MAX_PARTITIONS_PER_RUN``). Organizations are visited
round-robin from where the last pass stopped, so one big tenant cannot starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa

from tenantry.core.config import Settings
from tenantry.core.db import Database
from tenantry.semantic.models import ModelVersion
from tenantry.semantic.preaggs import jobs
from tenantry.semantic.preaggs.plan import definitions

log = logging.getLogger("tenantry.preaggs")
ACTIVE = ("queued", "running")


async def _orgs_with_preaggs(session) -> list[str]:
    """Organizations whose current model mentions pre-aggregations (checked properly later)."""
    latest = (
        sa.select(ModelVersion.org_id, sa.func.max(ModelVersion.number).label("n"))
        .group_by(ModelVersion.org_id)
        .subquery()
    )
    rows = await session.execute(
        sa.select(ModelVersion.org_id, ModelVersion.files, ModelVersion.templates).join(
            latest,
            sa.and_(ModelVersion.org_id == latest.c.org_id, ModelVersion.number == latest.c.n),
        )
    )
    return sorted(
        org_id
        for org_id, files, templates in rows
        if templates or any("pre_aggregations" in text for text in files.values())
    )


async def due(session, settings: Settings, org_id: str) -> bool:
    """Whether any pre-aggregation of the organization is missing or under an old refresh key."""
    found = await jobs.model_target(session, settings, org_id)
    if found is None:
        return False
    model, store, dialect, schemas = found
    if not model.has_pre_aggregations:
        return False
    built = await jobs.built_partitions(session, org_id)
    for d in definitions(model, dialect=dialect, schemas=schemas):
        parts = built.get((d.path, d.signature), {})
        summary = parts.get("*", parts.get("all"))
        if summary is None or summary != await jobs.refresh_value(store, d):
            return True
    return False


async def _active(session, org_id: str | None = None) -> int:
    from tenantry.orchestration.models import Run

    stmt = sa.select(sa.func.count()).where(Run.kind == jobs.KIND, Run.status.in_(ACTIVE))
    if org_id:
        stmt = stmt.where(Run.org_id == org_id)
    return await session.scalar(stmt) or 0


async def start_build(session, org_id: str, *, trigger: str, details: dict | None = None):
    """Queue a build run for the organization unless one is already queued or running."""
    from tenantry.orchestration import executors
    from tenantry.orchestration import service as runs
    from tenantry.tenancy.service import lock_org

    await lock_org(session, org_id)
    if await _active(session, org_id):
        await session.rollback()
        return None
    run = await runs.enqueue(
        session,
        org_id=org_id,
        kind=jobs.KIND,
        target_id=org_id,
        target_name=jobs.TARGET_NAME,
        trigger=trigger,
        max_attempts=2,
        backoff_seconds=30,
        details=details or {},
    )
    await executors.submit(run)
    return run


class Refresher:
    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.cursor = ""  # the last organization served: the next pass starts after it
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="tenantry-preagg-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pre-aggregation refresh pass failed")
            await asyncio.sleep(self.settings.preagg_refresh_seconds)

    async def tick(self) -> list[str]:
        """One pass: start builds for due organizations, round-robin, within the bounds."""
        started: list[str] = []
        async with self.db.session() as session:
            orgs = await _orgs_with_preaggs(session)
            room = self.settings.preagg_refresh_concurrency - await _active(session)
        ordered = [o for o in orgs if o > self.cursor] + [o for o in orgs if o <= self.cursor]
        for org_id in ordered:
            if room <= 0:
                break
            async with self.db.session() as session:
                try:
                    if not await due(session, self.settings, org_id):
                        continue
                except Exception:
                    log.warning("pre-aggregations of %s could not be checked", org_id)
                    continue
                if await start_build(session, org_id, trigger="schedule"):
                    started.append(org_id)
                    room -= 1
                    self.cursor = org_id
        return started
