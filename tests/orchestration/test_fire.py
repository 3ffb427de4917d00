"""Settling fire times (``schedules.fire``): grace and coalescing, every fire time recorded,
exactly one run however many processes fire at once, failures and stale plans."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core.db import Database, utcnow
from tenantry.orchestration import schedules
from tests.helpers import build_world
from tests.orchestration.helpers import (
    fires_of,
    schedule,
    schedule_runs,
    set_active_since,
    shop_pipeline,
    store,
)
from tests.pipelines.helpers import wait


@pytest.fixture
def quiet(settings):
    settings.scheduler_enabled = False  # only the test settles fire times here
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def qworld(quiet):
    return build_world(quiet)


def minute() -> datetime:
    return utcnow().replace(second=0, microsecond=0)


def fire(settings, schedule_id, times, *, worker="test", now=None, **kw):
    return store(
        settings,
        lambda db: schedules.fire(db, settings, schedule_id, times, worker, now=now, **kw),
    )


def every_minute(client, settings, world, **fields):
    owner = world.people["owner"]
    p = shop_pipeline(client, settings, owner, world.a)
    s = schedule(client, owner, world.a, p["id"], cron="* * * * *", timezone="UTC", **fields)
    set_active_since(settings, s["id"], minute() - timedelta(minutes=10))
    return p, s


def test_beyond_grace_missed_within_grace_coalesced_into_the_newest(quiet, settings, qworld):
    p, s = every_minute(quiet, settings, qworld, grace_seconds=90)
    base = minute()
    times = [base - timedelta(minutes=m) for m in (5, 4, 3, 2, 1, 0)]
    now = base + timedelta(seconds=30)  # ages 330 … 30 s
    done = fire(settings, s["id"], times, now=now)
    assert [status for _, status in done] == ["missed"] * 4 + ["coalesced", "fired"]

    rows = fires_of(settings, s["id"])
    assert [r.fire_time for r in rows] == times
    assert [r.status for r in rows] == ["missed"] * 4 + ["coalesced", "fired"]
    assert "2 min 30 s late, beyond the grace of 90 s" in rows[3].reason
    assert rows[4].reason == f"coalesced into the fire at {base.isoformat()}"
    runs = schedule_runs(settings, p["id"])
    assert [r.id for r in runs] == [rows[5].run_id] and runs[0].target_name == "Orders"

    # The same fire times again (another process, a restart): nothing new, no second run.
    assert fire(settings, s["id"], times, now=now) == []
    assert len(fires_of(settings, s["id"])) == 6 and len(schedule_runs(settings, p["id"])) == 1

    owner = qworld.people["owner"]
    done_run = wait(quiet, owner, qworld.a, rows[5].run_id)
    assert done_run["status"] == "succeeded" and done_run["trigger"] == "schedule"
    assert done_run["rows_loaded"] == 3
    page = quiet.get(
        f"/api/v1/orgs/{qworld.a}/schedules/{s['id']}/fires?size=4", headers=owner.h
    ).json()
    assert (page["total"], page["pages"]) == (6, 2)
    assert [f["status"] for f in page["items"]] == ["fired", "coalesced", "missed", "missed"]
    view = quiet.get(f"/api/v1/orgs/{qworld.a}/schedules/{s['id']}", headers=owner.h).json()
    assert view["last_fires"][0]["run_id"] == rows[5].run_id


def test_without_coalesce_each_fire_time_within_grace_runs(quiet, settings, qworld):
    p, s = every_minute(quiet, settings, qworld, grace_seconds=3600, coalesce=False)
    times = [minute() - timedelta(minutes=m) for m in (2, 1, 0)]
    assert [st for _, st in fire(settings, s["id"], times)] == ["fired"] * 3
    rows = fires_of(settings, s["id"])
    runs = schedule_runs(settings, p["id"])
    assert len(runs) == 3 and {r.id for r in runs} == {r.run_id for r in rows}


def test_concurrent_processes_start_exactly_one_run(quiet, settings, qworld):
    p, s = every_minute(quiet, settings, qworld, grace_seconds=3600)
    times = [minute() - timedelta(minutes=m) for m in (3, 2, 1, 0)]

    async def race():
        # Four "processes", each with its own engine, settling the same fire times at once.
        dbs = [Database(settings.resolved_database_url) for _ in range(4)]
        try:
            return await asyncio.gather(
                *(
                    schedules.fire(db, settings, s["id"], times, f"worker-{i}")
                    for i, db in enumerate(dbs)
                )
            )
        finally:
            for db in dbs:
                await db.dispose()

    results = asyncio.run(race())
    settled = [entry for result in results for entry in result]
    assert sorted(settled) == sorted(
        [(t, "coalesced") for t in times[:-1]] + [(times[-1], "fired")]
    )
    rows = fires_of(settings, s["id"])
    assert [r.status for r in rows] == ["coalesced"] * 3 + ["fired"]
    assert [r.id for r in schedule_runs(settings, p["id"])] == [rows[-1].run_id]


def test_a_deleted_target_records_a_failed_fire(quiet, settings, qworld):
    p, s = every_minute(quiet, settings, qworld)
    owner = qworld.people["owner"]
    r = quiet.delete(f"/api/v1/orgs/{qworld.a}/pipelines/{p['id']}", headers=owner.h)
    assert r.status_code == 204
    view = quiet.get(f"/api/v1/orgs/{qworld.a}/schedules/{s['id']}", headers=owner.h).json()
    assert view["target_missing"] and view["target_label"] == "pipeline (deleted)"
    assert fire(settings, s["id"], [minute()]) == [(minute(), "failed")]
    row = fires_of(settings, s["id"])[0]
    assert row.status == "failed" and row.run_id is None
    assert "no such pipeline" in row.reason
    assert schedule_runs(settings, p["id"]) == []


def test_paused_and_stale_plans_fire_nothing(quiet, settings, qworld):
    p, s = every_minute(quiet, settings, qworld)
    owner = qworld.people["owner"]
    one = f"/api/v1/orgs/{qworld.a}/schedules/{s['id']}"
    planned = quiet.get(one, headers=owner.h).json()["active_since"]
    quiet.post(one + "/pause", headers=owner.h)
    assert fire(settings, s["id"], [minute()]) == []
    quiet.post(one + "/resume", headers=owner.h)
    # Fire times from before the resume are not owed.
    assert fire(settings, s["id"], [minute() - timedelta(minutes=1)]) == []
    # A plan made from an older version of the schedule (another process not yet synced).
    assert fire(settings, s["id"], [utcnow()], active_since=datetime.fromisoformat(planned)) == []
    assert fires_of(settings, s["id"]) == [] and schedule_runs(settings, p["id"]) == []


def test_a_dag_schedule_starts_a_dag_run_from_its_node(quiet, settings, qworld):
    owner = qworld.people["owner"]
    p = shop_pipeline(quiet, settings, owner, qworld.a)
    whole = schedule(
        quiet, owner, qworld.a, None, name="Whole", cron="* * * * *", target_kind="dag"
    )
    node = schedule(
        quiet,
        owner,
        qworld.a,
        p["id"],
        name="From orders",
        cron="* * * * *",
        target_kind="dag",
        dag_node_kind="pipeline",
    )
    for s in (whole, node):
        set_active_since(settings, s["id"], minute() - timedelta(minutes=1))
        assert fire(settings, s["id"], [minute()]) == [(minute(), "fired")]
        row = fires_of(settings, s["id"])[0]
        dag_run = wait(quiet, owner, qworld.a, row.run_id)
        assert dag_run["kind"] == "dag" and dag_run["trigger"] == "schedule"
        assert dag_run["status"] == "succeeded", dag_run
        children = quiet.get(
            f"/api/v1/orgs/{qworld.a}/runs?parent_id={row.run_id}", headers=owner.h
        ).json()["items"]
        assert [(c["kind"], c["target_id"], c["status"]) for c in children] == [
            ("pipeline", p["id"], "succeeded")
        ]
