"""The scheduler runtime: jobs follow schedule changes made in this process at once, and a
backlog owed while no server ran is settled on start (the oldest part as one summary entry)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.cli.common import org_context
from tenantry.core.db import Database, utcnow
from tenantry.orchestration import cron, scheduler, schedules
from tenantry.orchestration.models import ScheduleFire
from tests.helpers import build_world
from tests.orchestration.helpers import (
    fires_of,
    schedule,
    schedule_runs,
    set_active_since,
    shop_pipeline,
)


@pytest.fixture
def quiet(settings):
    settings.scheduler_enabled = False  # the test runs its own Scheduler
    with TestClient(create_app(settings)) as client:
        yield client


async def until(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


def test_jobs_follow_changes_made_in_this_process_at_once(quiet, settings):
    world = build_world(quiet)
    owner = world.people["owner"]
    p = shop_pipeline(quiet, settings, owner, world.a)
    s = schedule(quiet, owner, world.a, p["id"], cron="0 6 * * *", timezone="Asia/Tokyo")
    settings.schedule_sync_seconds = 3600  # so only the in-process notification can be seen

    async def scenario():
        db = Database(settings.resolved_database_url)
        runtime = scheduler.Scheduler(db, settings)
        await runtime.start()
        try:
            job = await until(lambda: runtime.aps.get_job(s["id"]))
            expected = cron.next_fire_times("0 6 * * *", "Asia/Tokyo", utcnow(), 1)[0]
            assert job.next_run_time == expected
            async with db.session() as session:
                ctx = await org_context(session, world.a)
                await schedules.set_paused(session, ctx=ctx, schedule_id=s["id"], paused=True)
            await until(lambda: runtime.aps.get_job(s["id"]) is None)
            async with db.session() as session:
                ctx = await org_context(session, world.a)
                await schedules.set_paused(session, ctx=ctx, schedule_id=s["id"], paused=False)
                await schedules.update(
                    session, ctx=ctx, schedule_id=s["id"], cron_expr="15 7 * * *"
                )
            # Re-read each time: the resume and the cron change each resync the job, and the
            # first may replace the job object after we looked.
            job = await until(
                lambda: (j := runtime.aps.get_job(s["id"])) and j.next_run_time.minute == 15 and j
            )
            assert job.next_run_time.astimezone(job.trigger.timezone).hour == 7
        finally:
            await runtime.stop()
            await db.dispose()

    asyncio.run(scenario())
    assert fires_of(settings, s["id"]) == []


def owed_hours(since: datetime, now: datetime, minute: int) -> list[datetime]:
    """Independently of the cron code: every hh:minute in (since, now]."""
    t = since.replace(minute=minute, second=0, microsecond=0)
    out = []
    while t <= now:
        if t > since:
            out.append(t)
        t += timedelta(hours=1)
    return out


def test_a_backlog_is_settled_on_start_with_the_oldest_part_summarized(
    quiet, settings, monkeypatch
):
    world = build_world(quiet)
    owner = world.people["owner"]
    p = shop_pipeline(quiet, settings, owner, world.a)
    now = utcnow()
    at = (now.minute + 30) % 60  # half an hour from any fire time: none happens during the test
    s = schedule(
        quiet, owner, world.a, p["id"], cron=f"{at} * * * *", timezone="UTC", grace_seconds=3600
    )
    since = now - timedelta(days=2)
    set_active_since(settings, s["id"], since)
    owed = owed_hours(since, now, at)
    monkeypatch.setattr(scheduler, "MAX_CATCH_UP", 10)  # settled one by one; the rest: a summary

    async def scenario():
        db = Database(settings.resolved_database_url)
        runtime = scheduler.Scheduler(db, settings)
        await runtime.start()
        try:
            for _ in range(400):  # settled in the background; wait for all eleven
                async with db.session() as session:
                    count = await session.scalar(
                        sa.select(sa.func.count()).where(ScheduleFire.schedule_id == s["id"])
                    )
                if count >= 11:
                    break
                await asyncio.sleep(0.05)
            job = runtime.aps.get_job(s["id"])
            assert job.next_run_time == owed[-1] + timedelta(hours=1)  # the next one, ahead
        finally:
            await runtime.stop()
            await db.dispose()

    asyncio.run(scenario())
    rows = fires_of(settings, s["id"])
    summary, rest = rows[0], rows[1:]
    assert summary.fire_time == owed[0] and summary.status == "missed"
    assert summary.reason.startswith(f"{len(owed) - 10} fire times from {owed[0].isoformat()}")
    assert [r.fire_time for r in rest] == owed[-10:]
    # The newest is within the hour's grace and runs; the others are over an hour late.
    assert [r.status for r in rest] == ["missed"] * 9 + ["fired"]
    assert [r.id for r in schedule_runs(settings, p["id"])] == [rest[-1].run_id]
