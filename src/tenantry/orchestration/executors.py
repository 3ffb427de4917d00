"""Executors behind one interface: ``submit(run, delay)``.

- ``InlineExecutor``: a dispatcher inside the server process. It claims due queued runs from
  the store (so runs queued before a restart, and delayed retries, are picked up too) within
  per-organization and overall limits, and executes them on worker threads.
- ``CeleryExecutor``: sends the run id to ``tenantry worker`` processes through the broker.

Both call ``execute.execute_run``; the reaper (stale heartbeats) runs next to each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Protocol

from tenantry.core.config import Settings
from tenantry.core.db import Database
from tenantry.orchestration import reaper
from tenantry.orchestration import service as runs
from tenantry.orchestration.execute import execute_run
from tenantry.orchestration.models import Run

log = logging.getLogger("tenantry.runs")


class Executor(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def submit(self, run: Run, *, delay: float = 0) -> None: ...


class InlineExecutor:
    poll_seconds = 1.0

    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.active: dict[str, tuple[str, str, asyncio.Task]] = {}  # run id → (org, target, task)
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._loop_task = asyncio.create_task(self._run(), name="tenantry-dispatcher")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for _, _, task in list(self.active.values()):
            task.cancel()  # the thread finishes its batch; the reaper settles the run
        self.active.clear()

    async def submit(self, run: Run, *, delay: float = 0) -> None:
        if self._loop is None or self._wake is None:
            return
        wake = self._wake
        self._loop.call_soon_threadsafe(
            lambda: self._loop.call_later(max(delay, 0), wake.set)  # type: ignore[union-attr]
        )

    async def _run(self) -> None:
        assert self._wake is not None
        next_reap = 0.0
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                if loop.time() >= next_reap:
                    next_reap = loop.time() + reaper.interval(self.settings)
                    await reaper.reap(self.db, self.settings)
                await self._dispatch()
            except Exception:  # the dispatcher must outlive a store hiccup
                log.exception("run dispatcher pass failed; retrying")

    async def _dispatch(self) -> None:
        room = self.settings.run_max_concurrency - len(self.active)
        if room <= 0:
            return
        async with self.db.session() as session:
            due = await runs.due_queued(session, limit=room * 4)
        per_org = Counter(org for org, _, _ in self.active.values())
        targets = {target for _, target, _ in self.active.values()}
        for run in due:
            if room <= 0:
                break
            if per_org[run.org_id] >= self.settings.run_max_concurrency_per_org:
                continue
            if run.target_id in targets or run.id in self.active:
                continue
            task = asyncio.create_task(self._execute(run.id), name=f"run-{run.id}")
            self.active[run.id] = (run.org_id, run.target_id, task)
            per_org[run.org_id] += 1
            targets.add(run.target_id)
            room -= 1

    async def _execute(self, run_id: str) -> None:
        try:
            await execute_run(self.db, self.settings, run_id)
        except Exception:
            log.exception("run %s could not be executed", run_id)
        finally:
            self.active.pop(run_id, None)
            if self._wake is not None:
                self._wake.set()  # a slot is free


class CeleryExecutor:
    """Sends runs to the broker. In the server it also watches for runs whose worker died."""

    def __init__(self, settings: Settings, db: Database | None = None):
        self.settings, self.db = settings, db
        self._reaper: asyncio.Task | None = None

    async def start(self) -> None:
        if self.db is not None:
            self._reaper = asyncio.create_task(reaper.reap_forever(self.db, self.settings))

    async def stop(self) -> None:
        if self._reaper:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper

    async def submit(self, run: Run, *, delay: float = 0) -> None:
        from tenantry.orchestration.celery_app import send

        await asyncio.to_thread(send, self.settings, run.id, delay)


_current: Executor | None = None


def install(executor: Executor | None) -> None:
    global _current
    _current = executor


def current() -> Executor | None:
    return _current


async def submit(run: Run, *, delay: float = 0) -> None:
    """Hand a committed queued run to this process's executor (if none, a dispatcher elsewhere
    picks it up from the store)."""
    if _current is not None:
        await _current.submit(run, delay=delay)
