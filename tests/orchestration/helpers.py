"""Shared steps for schedule tests: a pipeline to schedule, schedules, and the store directly."""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa

from tenantry.core.db import Database
from tenantry.orchestration.models import Run, Schedule, ScheduleFire
from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline


def shop_pipeline(client, settings, person, org: str, name: str = "Orders") -> dict:
    """A small real pipeline: a SQLite file in the org's storage → its warehouse."""
    rows = [(i, f"c{i}", float(i), "2024-01-01") for i in range(1, 4)]
    make_sqlite(org_dir(client, settings, person, org) / "shop.sqlite", rows)
    existing = client.get(f"/api/v1/orgs/{org}/connections", headers=person.h).json()["items"]
    source = next((c["id"] for c in existing if c["name"] == "Shop"), None) or connection(
        client, person, org, "Shop", "sqlite", {"path": "shop.sqlite"}
    )
    return pipeline(client, person, org, name, source, {"mode": "table", "table": "orders"})


def schedule(client, person, org: str, target_id: str, **fields) -> dict:
    body = {
        "name": "Nightly",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "target_kind": "pipeline",
        "target_id": target_id,
    } | fields
    r = client.post(f"/api/v1/orgs/{org}/schedules", json=body, headers=person.h)
    assert r.status_code == 201, r.text
    return r.json()


def store(settings, work):
    """Run ``await work(db)`` against the metadata store in a loop of its own."""

    async def go():
        db = Database(settings.resolved_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def set_active_since(settings, schedule_id: str, when: datetime) -> None:
    async def work(db):
        async with db.session() as session:
            await session.execute(
                sa.update(Schedule).where(Schedule.id == schedule_id).values(active_since=when)
            )

    store(settings, work)


def fires_of(settings, schedule_id: str) -> list[ScheduleFire]:
    async def work(db):
        async with db.session() as session:
            rows = await session.scalars(
                sa.select(ScheduleFire)
                .where(ScheduleFire.schedule_id == schedule_id)
                .order_by(ScheduleFire.fire_time)
            )
            return list(rows)

    return store(settings, work)


def schedule_runs(settings, target_id: str) -> list[Run]:
    async def work(db):
        async with db.session() as session:
            rows = await session.scalars(
                sa.select(Run)
                .where(Run.target_id == target_id, Run.trigger == "schedule")
                .order_by(Run.created_at)
            )
            return list(rows)

    return store(settings, work)
