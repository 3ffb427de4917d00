"""Exactly once across processes: two real `tenantry serve` processes on one metadata store
settle fire times owed while no server ran — each recorded once, one run per fired time.

A store test: on SQLite by default, on PostgreSQL when TENANTRY_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core.db import utcnow
from tests.helpers import create_org, signup
from tests.orchestration.helpers import (
    fires_of,
    schedule,
    schedule_runs,
    set_active_since,
    shop_pipeline,
)

pytestmark = pytest.mark.store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(settings, log_path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATA_DIR=str(settings.data_dir),
        TENANTRY_SECRET_KEY=settings.secret_key,
        TENANTRY_ENCRYPTION_KEYS=settings.encryption_keys,
        TENANTRY_SCHEDULE_SYNC_SECONDS="2",
    )
    if settings.database_url:
        env["TENANTRY_DATABASE_URL"] = settings.database_url
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return proc, f"http://127.0.0.1:{port}"


def _ready(procs, logs) -> None:
    deadline = time.monotonic() + 60
    for (proc, base), log in zip(procs, logs, strict=True):
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start:\n" + log.read_text()
            time.sleep(0.2)


def test_two_servers_settle_each_fire_time_exactly_once(settings, tmp_path):
    settings.scheduler_enabled = False  # the servers below are the only schedulers
    with TestClient(create_app(settings)) as client:
        owner = signup(client, "owner@a.example")
        create_org(client, owner, "Org A", "org-a")
        p = shop_pipeline(client, settings, owner, "org-a")
        minutely = shop_pipeline(client, settings, owner, "org-a", name="Minutely")
        # Fire times 30, 20 and 5 minutes ago and this minute; none again for half an hour.
        base = utcnow().replace(second=0, microsecond=0)
        owed = [base - timedelta(minutes=m) for m in (30, 20, 5, 0)]
        expr = ",".join(str(m) for m in sorted({t.minute for t in owed})) + " * * * *"
        common = {"cron": expr, "timezone": "UTC"}
        # Grace two hours: all four are due; coalesced into one run at the newest.
        wide = schedule(client, owner, "org-a", p["id"], name="Wide", grace_seconds=7200, **common)
        # Grace ten minutes: the two oldest are missed, the 5-minute-old one is coalesced.
        narrow = schedule(
            client, owner, "org-a", p["id"], name="Narrow", grace_seconds=600, **common
        )
    for s in (wide, narrow):  # as if no server had run for the last 31 minutes
        set_active_since(settings, s["id"], base - timedelta(minutes=31))

    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    procs = [_serve(settings, log) for log in logs]  # both start at once
    try:
        _ready(procs, logs)
        # While both run, an every-minute schedule: at the next minute both wake and race.
        r = httpx.post(
            procs[0][1] + "/api/v1/orgs/org-a/schedules",
            json={
                "name": "Every minute",
                "cron": "* * * * *",
                "target_kind": "pipeline",
                "target_id": minutely["id"],
            },
            headers=owner.h,
        )
        assert r.status_code == 201, r.text
        every = r.json()
        deadline = time.monotonic() + 100
        while True:
            rows = {s["id"]: fires_of(settings, s["id"]) for s in (wide, narrow, every)}
            runs = schedule_runs(settings, p["id"]) + schedule_runs(settings, minutely["id"])
            backlog = all(len(rows[s["id"]]) == 4 for s in (wide, narrow))
            if backlog and rows[every["id"]] and len(runs) >= 3 and all(r.finished for r in runs):
                break
            assert time.monotonic() < deadline, f"not settled: {rows} {runs}"
            time.sleep(0.25)
        time.sleep(1.5)  # a sync tick later: nothing new for the backlog
        assert [len(fires_of(settings, s["id"])) for s in (wide, narrow)] == [4, 4]
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait(15)

    pids = {str(proc.pid) for proc, _ in procs}
    for s, expected in (
        (wide, ["coalesced", "coalesced", "coalesced", "fired"]),
        (narrow, ["missed", "missed", "coalesced", "fired"]),
    ):
        got = fires_of(settings, s["id"])
        assert [r.fire_time for r in got] == owed  # each owed time once, nothing else
        assert [r.status for r in got] == expected, [(r.status, r.reason) for r in got]
        assert all(r.worker.rsplit(":", 1)[1] in pids for r in got)
    fired = {fires_of(settings, s["id"])[-1].run_id for s in (wide, narrow)}
    runs = schedule_runs(settings, p["id"])
    assert {r.id for r in runs} == fired and len(fired) == 2  # one run per fired time
    assert [r.status for r in runs] == ["succeeded", "succeeded"], [r.error for r in runs]
    assert all(r.rows_loaded == 3 for r in runs)

    # The minute both servers woke for: one row per minute (fired), one run per row.
    got = fires_of(settings, every["id"])
    assert got and all(r.status == "fired" and r.fire_time.second == 0 for r in got)
    assert {r.id for r in schedule_runs(settings, minutely["id"])} == {r.run_id for r in got}
    assert len({r.run_id for r in got}) == len(got)
