"""Carry out one run: claim it, prepare its job, run it in a thread, stream its log, finish it.

The same code runs in ``tenantry serve`` (inline executor) and in ``tenantry worker`` (Celery).
Claims are one guarded UPDATE, so a run is executed once however many processes see it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tenantry.core.config import Settings
from tenantry.core.db import Database, utcnow
from tenantry.core.errors import TenantryError
from tenantry.orchestration import registry
from tenantry.orchestration import service as runs
from tenantry.orchestration.control import Job, LogLine, RunCancelled, RunControl
from tenantry.orchestration.models import Run, RunLog

log = logging.getLogger("tenantry.runs")
# How often a running run looks for a cancel request. Separate from (and much shorter than) the
# heartbeat: a cancel seen only at the next heartbeat let a job run on for up to
# ``run_heartbeat_seconds`` (5 s by default), still reading from the source.
CANCEL_POLL_SECONDS = 0.5
WORKER = f"{socket.gethostname()}:{os.getpid()}"
_threads = ThreadPoolExecutor(max_workers=64, thread_name_prefix="tenantry-run")


async def claim(db: Database, run_id: str) -> Run | None:
    async with db.session() as session:
        now = utcnow()
        result = await session.execute(
            sa.update(Run)
            .where(Run.id == run_id, Run.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, worker=WORKER)
        )
        await session.commit()
        if result.rowcount != 1:
            return None  # cancelled, or another worker has it
        return await session.get(Run, run_id)


class _LogWriter:
    def __init__(self, db: Database, run: Run):
        self.db, self.run, self.seq = db, run, 0

    async def write(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        async with self.db.session() as session:
            for line in lines:
                self.seq += 1
                session.add(
                    RunLog(
                        run_id=self.run.id,
                        seq=self.seq,
                        org_id=self.run.org_id,
                        at=line.at,
                        level=line.level,
                        message=line.message,
                    )
                )


def classify(exc: BaseException) -> tuple[str, str]:
    """(terminal | transient, a message the user can act on)."""
    if isinstance(exc, TenantryError):
        return ("transient" if exc.transient else "terminal"), exc.detail
    transient = isinstance(exc, (ConnectionError, TimeoutError, OSError))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ("transient" if transient else "terminal"), f"{type(exc).__name__}: {first}"


async def _pump(db: Database, settings: Settings, run: Run, ctl: RunControl, fut, writer) -> None:
    """While the job runs: flush its log, persist what it records, beat, watch for cancel."""
    last_beat = last_poll = time.monotonic()
    while not fut.done():
        await asyncio.wait([fut], timeout=0.25)
        await writer.write(ctl.drain())
        changed = ctl.details_changed.is_set()
        if changed:
            ctl.details_changed.clear()
        now = time.monotonic()
        beat = changed or now - last_beat >= settings.run_heartbeat_seconds
        poll = beat or now - last_poll >= CANCEL_POLL_SECONDS
        if not poll:
            continue
        last_poll = now
        async with db.session() as session:
            if beat:
                last_beat = now
                values: dict[str, Any] = {"heartbeat_at": utcnow()}
                if changed:
                    values["details"] = dict(ctl.details)
                await session.execute(sa.update(Run).where(Run.id == run.id).values(**values))
            wanted = await session.scalar(sa.select(Run.cancel_requested).where(Run.id == run.id))
        if wanted and not ctl.cancelled():
            ctl.log("Cancel requested; stopping at the next batch.", "warning")
            ctl.cancel_event.set()


async def _previous_details(db: Database, run: Run) -> dict[str, Any]:
    if not run.retry_of_id:
        return {}
    async with db.session() as session:
        rows = await session.scalars(
            sa.select(Run.details).where(Run.root_id == run.root_id, Run.id != run.id)
        )
        merged: dict[str, Any] = {"load_ids": []}
        for details in rows:
            merged["load_ids"] += (details or {}).get("load_ids", [])
        return merged


async def execute_run(db: Database, settings: Settings, run_id: str) -> str | None:
    """Run ``run_id`` if it is still queued; returns its final status (None: not ours)."""
    run = await claim(db, run_id)
    if run is None:
        return None
    writer = _LogWriter(db, run)
    ctl = RunControl(previous=await _previous_details(db, run))
    ctl.log(f"Run started on {WORKER} (attempt {run.attempt} of {max(run.max_attempts, 1)}).")
    job: Job | None = None
    result: dict[str, Any] = {}
    error: BaseException | None = None
    try:
        async with db.session() as session:
            job = await registry.handler(run.kind)(session, settings, run)
        ctl.add_secrets(job.secrets)
        fut = asyncio.get_running_loop().run_in_executor(_threads, job.execute, ctl)
        await _pump(db, settings, run, ctl, asyncio.ensure_future(fut), writer)
        result = await fut
    except BaseException as exc:  # the run records every failure; nothing escapes unrecorded
        error = exc
        if not isinstance(exc, Exception):
            raise
    finally:
        await _record_outcome(db, settings, run, ctl)
        status = await _finish(db, run, ctl, writer, result, error)
    await after_finish(db, settings, run.id)
    return status


async def _record_outcome(db: Database, settings: Settings, run: Run, ctl: RunControl) -> None:
    """What the run's kind keeps of it (e.g. the partitions a build made), before the run shows
    as finished — whoever sees it finished sees that too. Never fails the run itself."""
    hook = registry.finished_hook(run.kind)
    if hook is None:
        return
    try:
        await hook(db, settings, run.org_id, dict(ctl.details))
    except Exception:
        log.exception("run %s: recording what it did failed", run.id)


async def after_finish(db: Database, settings: Settings, run_id: str) -> None:
    """Advance the run's DAG run, or start what depends on it. Never fails the run itself."""
    from tenantry.orchestration import dag_runs

    try:
        await dag_runs.on_finished(db, settings, run_id)
    except Exception:
        log.exception("run %s finished, but its downstream could not be started", run_id)


async def _finish(db, run, ctl, writer, result, error) -> str:
    values: dict[str, Any] = {"finished_at": utcnow(), "heartbeat_at": utcnow()}
    retry_in = None
    if error is None:
        tables = result.get("tables", {})
        values |= {
            "status": "succeeded",
            "tables": tables,
            "rows_loaded": sum(t.get("rows", 0) for t in tables.values()),
            "bytes_loaded": sum(t.get("bytes", 0) for t in tables.values()),
        }
        ctl.log(result.get("summary") or "Succeeded.")
    elif isinstance(error, RunCancelled):
        values |= {"status": "cancelled", "error": error.detail, "error_class": "terminal"}
        ctl.log(error.detail, "warning")
    else:
        klass, message = classify(error)
        message = ctl.redact(message)[:4000]
        values |= {"status": "failed", "error": message, "error_class": klass}
        ctl.log(f"Failed ({klass}): {message}", "error")
        if not isinstance(error, TenantryError):
            log.warning("run %s failed", run.id, exc_info=(type(error), error, None))
        if klass == "transient" and run.attempt < run.max_attempts:
            retry_in = runs.retry_delay(run)
            ctl.log(f"Transient error: attempt {run.attempt + 1} starts in {retry_in:g} s.")
    values["details"] = dict(ctl.details)
    await writer.write(ctl.drain())
    async with db.session() as session:
        await session.execute(sa.update(Run).where(Run.id == run.id).values(**values))
        await session.commit()
        if retry_in is not None:
            fresh = await session.get(Run, run.id)
            await schedule_retry(session, fresh)
    return values["status"]


async def schedule_retry(session, run: Run) -> Run:
    """The next attempt of a transiently failed ``run``, queued until its backoff has passed."""
    from tenantry.orchestration import executors

    delay = runs.retry_delay(run)
    new = await runs.enqueue(
        session,
        org_id=run.org_id,
        kind=run.kind,
        target_id=run.target_id,
        target_name=run.target_name,
        trigger="retry",
        max_attempts=run.max_attempts,
        backoff_seconds=run.backoff_seconds,
        retry_of=run,
        not_before=utcnow() + timedelta(seconds=delay),
    )
    await executors.submit(new, delay=delay)
    return new
