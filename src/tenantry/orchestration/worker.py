"""The ``tenantry worker`` process: one event loop thread shared by Celery's worker threads.

Each task hands its run to that loop and blocks until the run is finished, so Celery acks the
message only then (``acks_late``). The loop also runs the reaper for crashed workers' runs.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading

from tenantry.core.config import Settings, get_settings
from tenantry.core.db import Database

log = logging.getLogger("tenantry.worker")


class WorkerRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.db: Database | None = None
        self._per_org: dict[str, asyncio.Semaphore] = collections.defaultdict(
            lambda: asyncio.Semaphore(settings.run_max_concurrency_per_org)
        )
        self.thread = threading.Thread(target=self._serve, name="tenantry-worker-loop", daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start(self) -> None:
        from tenantry.core import secrets

        secrets.configure(self.settings.fernet_keys)
        self.db = Database(self.settings.resolved_database_url)
        from tenantry.orchestration import reaper

        self.loop.create_task(reaper.reap_forever(self.db, self.settings))

    async def _execute(self, run_id: str) -> str | None:
        import sqlalchemy as sa

        from tenantry.orchestration.execute import execute_run
        from tenantry.orchestration.models import Run

        async with self.db.session() as session:
            org_id = await session.scalar(sa.select(Run.org_id).where(Run.id == run_id))
        if org_id is None:
            return None
        async with self._per_org[org_id]:
            return await execute_run(self.db, self.settings, run_id)

    def run(self, run_id: str) -> str | None:
        return asyncio.run_coroutine_threadsafe(self._execute(run_id), self.loop).result()


_runtime: WorkerRuntime | None = None
_lock = threading.Lock()


def runtime() -> WorkerRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            from tenantry.orchestration import executors

            # Run kinds are registered by the process that started the worker (``tenantry worker``).
            _runtime = WorkerRuntime(get_settings())
            executors.install(executors.CeleryExecutor(_runtime.settings))
        return _runtime


def run_in_worker(run_id: str) -> str | None:
    return runtime().run(run_id)
