"""Settling a schedule's fire times, exactly once across scheduler processes.

A fire time is settled by inserting its ``ScheduleFire`` row; the row is unique per schedule and
fire time (the idempotency key), so whichever process inserts it first decides what happens —
fired (it alone starts the run, in the same transaction as the insert), coalesced, missed or
failed — and every other process's insert does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import Database, as_utc, insert_for, new_id, utcnow
from tenantry.core.errors import TenantryError
from tenantry.orchestration import service as runs
from tenantry.orchestration.models import Schedule, ScheduleFire
from tenantry.tenancy.models import Organization

log = logging.getLogger("tenantry.schedules")


def _insert_once(session: AsyncSession, values: dict[str, Any]):
    """INSERT … ON CONFLICT DO NOTHING on the idempotency key (SQLite and PostgreSQL)."""
    stmt = insert_for(session, ScheduleFire).values(id=new_id(), recorded_at=utcnow(), **values)
    return session.execute(stmt.on_conflict_do_nothing(index_elements=["schedule_id", "fire_time"]))


async def record(
    db: Database, s: Schedule, entries: list[tuple[datetime, str, str]], worker: str
) -> list[tuple[datetime, str]]:
    """Record fire times that start nothing (missed, coalesced); returns those that were new
    (another process may have settled some already)."""
    new = []
    async with db.session() as session:
        for when, status, reason in entries:
            values = dict(schedule_id=s.id, org_id=s.org_id, fire_time=when, status=status)
            result = await _insert_once(session, values | {"reason": reason, "worker": worker})
            if result.rowcount == 1:
                new.append((when, status))
    return new


async def fire(
    db: Database,
    settings: Settings,
    schedule_id: str,
    fire_times: list[datetime],
    worker: str,
    *,
    active_since: datetime | None = None,
    now: datetime | None = None,
) -> list[tuple[datetime, str]]:
    """Settle the scheduled fire times of one schedule; returns what this process recorded.

    Beyond the grace period a time is missed; of the times within it, with coalesce only the
    newest fires (the rest are coalesced), without it each fires. ``active_since`` is the
    schedule version the caller computed the times from: a newer one makes them stale."""
    now = now or utcnow()
    async with db.session() as session:
        s = await session.get(Schedule, schedule_id)
        org = await session.get(Organization, s.org_id) if s else None
    if s is None or s.paused or org is None or org.deleted_at is not None:
        return []
    if active_since is not None and as_utc(active_since) != s.active_since:
        return []  # changed since: the scheduler re-plans it from the new version
    times = sorted({as_utc(t) for t in fire_times if as_utc(t) > s.active_since})
    late = [t for t in times if (now - t).total_seconds() > s.grace_seconds]
    due = [t for t in times if t not in late]
    grace = f"beyond the grace of {s.grace_seconds} s"
    entries = [(t, "missed", f"{_late(now - t)} late, {grace}") for t in late]
    if s.coalesce and len(due) > 1:
        newest = due[-1].isoformat()
        entries += [(t, "coalesced", f"coalesced into the fire at {newest}") for t in due[:-1]]
        due = due[-1:]
    done = await record(db, s, entries, worker) if entries else []
    for when in due:
        status = await _fire_one(db, settings, s, when, worker)
        if status:
            done.append((when, status))
    return done


def _late(delta) -> str:
    """'45 s', '2 min 30 s', '5 h 3 min', '3 days'."""
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


async def _fire_one(
    db: Database, settings: Settings, s: Schedule, when: datetime, worker: str
) -> str | None:
    """Insert the fire row and start the run in one transaction; None if another process won."""
    async with db.session() as session:
        values = dict(schedule_id=s.id, org_id=s.org_id, fire_time=when, status="fired")
        result = await _insert_once(session, values | {"reason": "", "worker": worker})
        if result.rowcount != 1:
            log.debug("schedule %s at %s: settled by another process", s.id, when.isoformat())
            return None
        try:
            run = await _start(session, settings, s)
        except TenantryError as exc:  # e.g. the target was deleted: recorded, not retried
            await _settle(session, s, when, status="failed", reason=exc.detail)
            log.warning("schedule %s could not start its run: %s", s.id, exc.detail)
            return "failed"
        except Exception as exc:
            await session.rollback()
            log.exception("schedule %s could not start its run", s.id)
            reason = f"the run could not be started ({type(exc).__name__}); see the server log"
            await record(db, s, [(when, "failed", reason)], worker)
            return "failed"
        await _settle(session, s, when, run_id=run.id)
    if s.target_kind != "dag":  # dag_runs.start hands out its node runs itself
        await _submit(run)
    log.info("schedule %s fired at %s: run %s", s.id, when.isoformat(), run.id)
    return "fired"


async def _settle(session, s: Schedule, when: datetime, **values) -> None:
    await session.execute(
        sa.update(ScheduleFire)
        .where(ScheduleFire.schedule_id == s.id, ScheduleFire.fire_time == when)
        .values(**values)
    )
    await session.commit()


async def _start(session: AsyncSession, settings: Settings, s: Schedule):
    if s.target_kind == "dag":
        from tenantry.orchestration import dag_runs  # builds on the run service

        node = (s.dag_node_kind, s.target_id) if s.target_id else None
        return await dag_runs.start(
            session,
            settings,
            org_id=s.org_id,
            node=node,
            mode="downstream" if node else "all",
            trigger="schedule",
            created_by_id=s.created_by_id,
        )
    return await runs.launch(
        session,
        org_id=s.org_id,
        kind=s.target_kind,
        target_id=s.target_id,
        trigger="schedule",
        created_by_id=s.created_by_id,
        submit=False,
    )


async def _submit(run) -> None:
    from tenantry.orchestration import executors

    try:
        await executors.submit(run)
    except Exception:  # queued and committed: an inline dispatcher picks it up from the store
        log.exception("run %s was queued but could not be handed to the executor", run.id)


async def last_fire_time(db: Database, schedule_id: str) -> datetime | None:
    async with db.session() as session:
        return await session.scalar(
            sa.select(sa.func.max(ScheduleFire.fire_time)).where(
                ScheduleFire.schedule_id == schedule_id
            )
        )
