"""A worker that died after its load committed but before it recorded success: the retry
must not load the same rows again (append would duplicate them)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tenantry.core.db import utcnow
from tenantry.orchestration import service as runs
from tenantry.orchestration.control import RunControl
from tenantry.orchestration.models import Run
from tenantry.pipelines.jobs import prepare_pipeline_run
from tests.pipelines.helpers import (
    connection,
    logs,
    make_sqlite,
    org_dir,
    org_id,
    pipeline,
    query,
    wait,
)


def test_a_retry_after_a_death_past_the_commit_loads_nothing_again(client, settings, world):
    settings.run_stale_after_seconds = 1
    owner = world.people["owner"]
    make_sqlite(
        org_dir(client, settings, owner, world.a) / "shop.sqlite",
        [(i, "c", float(i), "2024-01-01") for i in range(1, 51)],
    )
    source = connection(client, owner, world.a, "Shop", "sqlite", {"path": "shop.sqlite"})
    spec = {"mode": "table", "table": "orders", "retry": {"max_attempts": 2, "backoff_seconds": 0}}
    p = pipeline(client, owner, world.a, "Orders", source, spec)
    oid = org_id(client, owner, world.a)
    db = client.app.state.db

    async def attempt_one_dies_after_its_load() -> str:
        # Attempt 1 as its worker left it: claimed and running, its load committed (the real
        # job ran to the end), the success never written, the heartbeat stopped.
        async with db.session() as session:
            run = await runs.enqueue(
                session,
                org_id=oid,
                kind="pipeline",
                target_id=p["id"],
                target_name="Orders",
                trigger="manual",
                max_attempts=2,
            )
            await session.execute(
                sa.update(Run)
                .where(Run.id == run.id)
                # Alive while its load runs (a real worker's pump keeps beating meanwhile).
                .values(
                    status="running",
                    started_at=utcnow(),
                    heartbeat_at=utcnow() + timedelta(hours=1),
                    worker="w",
                )
            )
            await session.commit()
            job = await prepare_pipeline_run(session, settings, run)
        ctl = RunControl()
        import asyncio

        result = await asyncio.to_thread(job.execute, ctl)
        assert result["tables"]["orders"]["rows"] == 50
        async with db.session() as session:
            await session.execute(
                sa.update(Run)
                .where(Run.id == run.id)
                .values(details=dict(ctl.details), heartbeat_at=utcnow() - timedelta(hours=1))
            )
        return run.id

    first = client.portal.call(attempt_one_dies_after_its_load)
    dead = wait(client, owner, world.a, first, timeout=30)
    assert dead["status"] == "failed" and "stopped responding" in dead["error"]
    listed = client.get(f"/api/v1/orgs/{world.a}/runs?target_id={p['id']}", headers=owner.h).json()[
        "items"
    ]
    retry = next(r for r in listed if r["attempt"] == 2)
    done = wait(client, owner, world.a, retry["id"], timeout=30)
    assert done["status"] == "succeeded" and done["rows_loaded"] == 0
    assert "already loaded" in logs(client, owner, world.a, retry["id"])
    assert query(client, owner, world.a, "SELECT count(*), count(DISTINCT id) FROM raw.orders") == [
        [50, 50]
    ]
