"""The scheduler runtime inside `tenantry serve`: APScheduler 3.x on the server's event loop.

Every server process runs one. Each schedule is an APScheduler job with our cron trigger; a
custom executor hands the job's *scheduled* fire times to ``schedules.fire``, which settles each
one exactly once across processes through its idempotency key. APScheduler's own coalescing and
misfire handling are off, so every owed fire time reaches ``fire`` and is recorded there (fired,
coalesced, missed or failed) under the schedule's own policy.

Jobs are reconciled with the ``schedules`` table every ``schedule_sync_seconds`` (changes made by
other processes) and at once when this process changes a schedule. A job (re)starts at the first
fire time after the later of the schedule's ``active_since`` and its last recorded fire time, so
fire times owed while no server was running are settled on start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter, deque
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tenantry.core.config import Settings
from tenantry.core.db import Database, utcnow
from tenantry.core.errors import ValidationFailed
from tenantry.orchestration import cron, schedule_fires, schedules
from tenantry.orchestration.models import Schedule
from tenantry.tenancy.models import Organization

log = logging.getLogger("tenantry.schedules")

# Fire times settled one by one when a schedule is (re)planned; older owed ones are recorded as
# one summary entry, so a long outage of a per-minute schedule does not write a million rows.
MAX_CATCH_UP = 1000


class FireTimesExecutor(BaseExecutor):
    """Runs ``job.func(*job.args, run_times)`` as a task on the event loop: the job receives the
    scheduled fire times themselves (the idempotency key), never "now"."""

    def __init__(self):
        super().__init__()
        self.tasks: set[asyncio.Task] = set()

    def _do_submit_job(self, job, run_times):
        task = asyncio.get_running_loop().create_task(job.func(*job.args, list(run_times)))
        self.tasks.add(task)
        task.add_done_callback(partial(self._done, job.id))

    def _done(self, job_id: str, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, [])

    def shutdown(self, wait=True):
        for task in list(self.tasks):
            task.cancel()


def _backlog(trig: cron.Cron, start: datetime, now: datetime, cap: int):
    """(first fire time to hand to APScheduler, how many older owed ones are beyond ``cap``,
    the first and last of those)."""
    recent: deque[datetime] = deque(maxlen=cap)
    skipped, first, last, upcoming = 0, None, None, None
    for when in cron.iter_fire_times(trig, start):
        if when > now:
            upcoming = when
            break
        if len(recent) == cap:
            skipped, first, last = skipped + 1, first or recent[0], recent[0]
        recent.append(when)
    return (recent[0] if recent else upcoming), skipped, first, last


class Scheduler:
    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.executor = FireTimesExecutor()
        self.aps = AsyncIOScheduler(
            timezone=UTC,
            executors={"default": self.executor},
            # Coalescing and misfires are ours (schedules.fire), so every fire time is recorded.
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 16},
        )
        self.planned: dict[str, tuple] = {}  # schedule id → (cron, zone, active_since) of its job
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._unsubscribe = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.aps.start()
        self._unsubscribe = schedules.on_change(self.notify)
        self._task = asyncio.create_task(self._run(), name="tenantry-scheduler")

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.aps.running:
            self.aps.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        tasks = list(self.executor.tasks)
        for task in tasks:  # an interrupted fire rolls back; a later start settles it again
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def notify(self) -> None:
        """A schedule changed in this process: reconcile now rather than at the next tick."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.sync()
            except Exception:  # a store hiccup must not end the loop
                log.exception("schedule sync failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.schedule_sync_seconds)

    async def sync(self) -> None:
        """Add, re-plan and remove jobs so they match the active schedules."""
        async with self.db.session() as session:
            rows = await session.execute(
                sa.select(Schedule.id, Schedule.cron, Schedule.timezone, Schedule.active_since)
                .join(Organization, Organization.id == Schedule.org_id)
                .where(Schedule.paused.is_(False), Organization.deleted_at.is_(None))
            )
            live = {sid: (expr, tz, since) for sid, expr, tz, since in rows}
        for job in self.aps.get_jobs():
            if job.id not in live:
                job.remove()
        for sid in set(self.planned) - set(live):
            del self.planned[sid]
        for sid, version in live.items():
            if self.planned.get(sid) != version:
                await self._plan(sid, *version)
                self.planned[sid] = version

    async def _plan(self, schedule_id: str, expr: str, tz: str, since: datetime) -> None:
        with contextlib.suppress(Exception):
            self.aps.remove_job(schedule_id)
        try:
            trig = cron.trigger(expr, tz)
        except ValidationFailed as exc:  # saved before a stricter check, or a zone removed
            log.warning("schedule %s cannot be scheduled: %s", schedule_id, exc.detail)
            return
        last = await schedule_fires.last_fire_time(self.db, schedule_id)
        start = max(since, last) if last else since
        now = utcnow()
        first, skipped, oldest, newest = await asyncio.to_thread(
            _backlog, trig, start, now, MAX_CATCH_UP
        )
        if skipped:
            await self._summarize(schedule_id, skipped, oldest, newest, now)
        if first is None:
            return  # never fires again
        self.aps.add_job(
            self._fire,
            trigger=trig,
            id=schedule_id,
            name=f"schedule {schedule_id}",
            args=(schedule_id, since),
            next_run_time=first,
            replace_existing=True,
        )

    async def _summarize(self, schedule_id, count: int, oldest, newest, now) -> None:
        async with self.db.session() as session:
            s = await session.get(Schedule, schedule_id)
        if s is None:
            return
        late = (now - newest).total_seconds() > s.grace_seconds
        status = "missed" if late or not s.coalesce else "coalesced"
        reason = (
            f"{count} fire times from {oldest.isoformat()} to {newest.isoformat()} passed while "
            "no scheduler was running; they are recorded as this one entry"
        )
        await schedule_fires.record(self.db, s, [(oldest, status, reason)], self.worker)

    async def _fire(self, schedule_id: str, since: datetime, run_times=()) -> None:
        # run_times is appended by FireTimesExecutor (APScheduler checks the job's arguments).
        done = await schedule_fires.fire(
            self.db, self.settings, schedule_id, run_times, self.worker, active_since=since
        )
        if done:
            counts = Counter(status for _, status in done)
            log.info(
                "schedule %s: %s", schedule_id, ", ".join(f"{n} {s}" for s, n in counts.items())
            )
