"""The Celery executor end to end: `tenantry worker` processes on the Redis broker (CI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tests.helpers import build_world
from tests.pipelines.helpers import connection, make_sqlite, org_dir, pipeline, query, wait


@pytest.fixture(params=["redis", "amqp"])
def broker(request, requires_redis):
    """Each Celery test on Redis, and on RabbitMQ where TENANTRY_TEST_AMQP_URL names one."""
    if request.param == "redis":
        return requires_redis
    url = os.environ.get("TENANTRY_TEST_AMQP_URL")
    if not url:
        pytest.skip("TENANTRY_TEST_AMQP_URL is not set (CI sets it)")
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.connect()
            conn.default_channel.queue_purge("celery")  # no leftovers from earlier tests
    except Exception as exc:
        if "NOT_FOUND" not in str(exc):
            pytest.fail(f"TENANTRY_TEST_AMQP_URL is set but RabbitMQ is unreachable: {exc}")
    return url


@pytest.fixture
def celery_settings(settings, requires_redis, broker):
    settings.executor = "celery"
    settings.celery_broker_url = broker
    settings.allowed_private_networks = "127.0.0.0/8"
    settings.run_heartbeat_seconds = 0.5
    settings.run_stale_after_seconds = 3
    import redis

    redis.from_url(requires_redis).delete("celery")  # no leftovers from earlier tests
    return settings


class Workers:
    def __init__(self, settings):
        self.settings, self.procs = settings, []

    def start(self) -> subprocess.Popen:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
        env |= {
            "TENANTRY_DATA_DIR": str(s.data_dir),
            "TENANTRY_SECRET_KEY": s.secret_key,
            "TENANTRY_ENCRYPTION_KEYS": s.encryption_keys,
            "TENANTRY_EXECUTOR": "celery",
            "TENANTRY_CELERY_BROKER_URL": s.celery_broker_url,
            "TENANTRY_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
            "TENANTRY_RUN_HEARTBEAT_SECONDS": "0.5",
            "TENANTRY_RUN_STALE_AFTER_SECONDS": "3",
        }
        if s.database_url:
            env["TENANTRY_DATABASE_URL"] = s.database_url
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tenantry",
                "worker",
                "--concurrency",
                "4",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def workers(celery_settings):
    w = Workers(celery_settings)
    yield w
    w.stop()


def test_two_organizations_load_at_once_through_celery_each_into_its_own_warehouse(
    celery_settings, workers
):
    workers.start()
    with TestClient(create_app(celery_settings)) as client:
        world = build_world(client)
        people = {world.a: world.people["owner"], world.b: world.b_owner}
        started = {}
        for org, person in people.items():
            n = 40 if org == world.a else 70
            rows = [(i, org, float(i), "2024-01-01") for i in range(1, n + 1)]
            make_sqlite(org_dir(client, celery_settings, person, org) / "shop.sqlite", rows)
            source = connection(client, person, org, "Shop", "sqlite", {"path": "shop.sqlite"})
            p = pipeline(
                client, person, org, "Orders", source, {"mode": "table", "table": "orders"}
            )
            r = client.post(f"/api/v1/orgs/{org}/pipelines/{p['id']}/run", headers=person.h)
            started[org] = r.json()["id"]
        for org, run_id in started.items():
            done = wait(client, people[org], org, run_id, timeout=90)
            assert done["status"] == "succeeded", done["error"]
        for org, person in people.items():
            expected = 40 if org == world.a else 70
            assert query(
                client, person, org, "SELECT count(*), min(customer), max(customer) FROM raw.orders"
            ) == [[expected, org, org]]


class SlowApi(BaseHTTPRequestHandler):
    """20 pages of 25 records, 0.25 s each, linked by `next`."""

    requests = 0

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        type(self).requests += 1
        page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
        time.sleep(0.25)
        items = [{"id": page * 100 + i, "page": page} for i in range(25)]
        nxt = f"http://{self.headers['Host']}/v1/items?page={page + 1}" if page < 20 else None
        body = json.dumps({"data": items, "next": nxt}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


def test_a_killed_workers_run_is_detected_and_retried_without_duplicate_rows(
    celery_settings, workers
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}/v1"
    first = workers.start()
    try:
        with TestClient(create_app(celery_settings)) as client:
            world = build_world(client)
            owner = world.people["owner"]
            config = {
                "base_url": api,
                "resources": "items",
                "data_selector": "data",
                "paginator": "json_link",
            }
            source = connection(client, owner, world.a, "Slow", "rest_api", config)
            spec = {"mode": "rest", "retry": {"max_attempts": 2, "backoff_seconds": 0}}
            p = pipeline(client, owner, world.a, "Items", source, spec)
            run_id = client.post(
                f"/api/v1/orgs/{world.a}/pipelines/{p['id']}/run", headers=owner.h
            ).json()["id"]
            wait(
                client, owner, world.a, run_id, timeout=60, until=lambda r: r["status"] == "running"
            )
            deadline = time.monotonic() + 30
            while SlowApi.requests < 4:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)  # no goodbye: the heartbeat just stops
            first.wait(10)
            dead = wait(client, owner, world.a, run_id, timeout=60)
            assert dead["status"] == "failed" and dead["error_class"] == "transient"
            assert "stopped responding" in dead["error"]
            workers.start()  # a healthy worker takes the retry
            runs = client.get(
                f"/api/v1/orgs/{world.a}/runs?target_id={p['id']}", headers=owner.h
            ).json()["items"]
            retry = next(r for r in runs if r["attempt"] == 2)
            assert retry["root_id"] == run_id and retry["trigger"] == "retry"
            done = wait(client, owner, world.a, retry["id"], timeout=90)
            assert done["status"] == "succeeded", done["error"]
            assert query(
                client, owner, world.a, "SELECT count(*), count(DISTINCT id) FROM raw.items"
            ) == [[500, 500]]
    finally:
        server.shutdown()
