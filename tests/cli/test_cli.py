"""The `tenantry` command as a real subprocess: help everywhere, exit codes scripts can trust."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core.config import Settings
from tenantry.tenancy.models import OrgSecret
from tests.helpers import create_org, signup


def tenantry(
    settings: Settings | None, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    if settings is not None:
        full.update(
            TENANTRY_DATA_DIR=str(settings.data_dir),
            TENANTRY_BCRYPT_ROUNDS="4",
            TENANTRY_SECRET_KEY=settings.secret_key or "",
        )
        if settings.database_url:
            full["TENANTRY_DATABASE_URL"] = settings.database_url
        if settings.encryption_keys:
            full["TENANTRY_ENCRYPTION_KEYS"] = settings.encryption_keys
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tenantry", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


COMMANDS = [
    [],
    ["serve"],
    ["demo"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["db", "revision"],
    ["users"],
    ["users", "create"],
    ["users", "list"],
    ["orgs"],
    ["orgs", "create"],
    ["orgs", "list"],
    ["secrets"],
    ["secrets", "rotate"],
    ["secrets", "new-key"],
    ["connections"],
    ["connections", "list"],
    ["connections", "test"],
    ["pipelines"],
    ["pipelines", "list"],
    ["pipelines", "run"],
    ["runs"],
    ["runs", "list"],
    ["runs", "logs"],
    ["runs", "cancel"],
    ["runs", "retry"],
    ["worker"],
    ["prompts"],
    ["prompts", "list"],
    ["prompts", "get"],
    ["prompts", "push"],
    ["prompts", "pull"],
    ["prompts", "validate"],
    ["prompts", "render"],
    ["prompts", "run"],
    ["prompts", "diff"],
    ["prompts", "history"],
    ["prompts", "label"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tenantry")
def test_help_everywhere(command):
    r = tenantry(None, *command, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_users_and_orgs(settings):
    ok = tenantry(
        settings,
        "users",
        "create",
        "--email",
        "Ada@Example.com",
        "--name",
        "Ada",
        "--password",
        "long-enough-pw",
    )
    assert ok.returncode == 0, ok.stderr
    assert "Created user Ada@example.com" in ok.stdout
    dup = tenantry(
        settings, "users", "create", "--email", "ada@example.com", "--password", "long-enough-pw"
    )
    assert dup.returncode == 1 and "already exists" in dup.stderr and "Traceback" not in dup.stderr
    short = tenantry(
        settings, "users", "create", "--email", "bob@example.com", "--password", "short"
    )
    assert short.returncode == 1 and "password" in short.stderr
    usage = tenantry(settings, "users", "create")
    assert usage.returncode == 2
    no_owner = tenantry(
        settings, "orgs", "create", "--name", "Acme", "--owner", "nobody@example.com"
    )
    assert no_owner.returncode == 1 and "users create" in no_owner.stderr
    made = tenantry(settings, "orgs", "create", "--name", "Acme Shop", "--owner", "ada@example.com")
    assert made.returncode == 0 and "slug acme-shop" in made.stdout
    listed = tenantry(settings, "orgs", "list")
    assert "acme-shop" in listed.stdout
    assert "ada@example.com".lower() in tenantry(settings, "users", "list").stdout.lower()


def test_db_commands(settings):
    current = tenantry(settings, "db", "current")
    assert current.returncode == 0 and "database:" in current.stdout
    up = tenantry(settings, "db", "upgrade")
    assert up.returncode == 0, up.stderr


def test_demo_is_idempotent(settings):
    for _ in range(2):
        r = tenantry(settings, "demo", "--no-serve")
        assert r.returncode == 0, r.stderr
    assert "owner@acme.example" in r.stdout and "analyst@example.com" in r.stdout
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/v1/auth/login", json={"email": "analyst@example.com", "password": "tenantry-demo"}
        ).json()["access_token"]
        orgs = client.get("/api/v1/orgs", headers={"Authorization": f"Bearer {token}"}).json()[
            "items"
        ]
        assert sorted(o["slug"] for o in orgs) == ["acme-shop", "globex-ads"]
        # Real pipelines loaded each organization's own warehouse (once: the second demo
        # found them loaded).
        h = {"Authorization": f"Bearer {token}"}
        expected = {
            "acme-shop": {"customers", "orders", "order_items", "sessions"},
            "globex-ads": {"campaigns", "ad_spend", "clicks", "conversions"},
        }
        for slug, tables in expected.items():
            found = client.get(f"/api/v1/orgs/{slug}/warehouse", headers=h).json()["tables"]
            assert {t["name"] for t in found if t["schema"] == "raw"} >= tables
            assert (
                not {t["name"] for t in found}
                & expected["globex-ads" if slug == "acme-shop" else "acme-shop"]
            )
            runs = client.get(
                f"/api/v1/orgs/{slug}/runs", params={"kind": "pipeline"}, headers=h
            ).json()["items"]
            assert runs and all(r["status"] == "succeeded" for r in runs)
            # Each pipeline ran on its own (its tables are the models' sources), then again
            # in the DAG run that built the models — and not again on the second demo.
            assert len(runs) == (2 if slug == "acme-shop" else 8)
            # dbt modelled it: one DAG run (a run per pipeline and model), all succeeded.
            dag_runs = client.get(
                f"/api/v1/orgs/{slug}/runs", params={"kind": "dag"}, headers=h
            ).json()["items"]
            assert [r["status"] for r in dag_runs] == ["succeeded"]
            marts = {t["name"] for t in found if t["schema"] == "marts"}
            assert marts >= (
                {"fct_orders", "channel_performance", "orders_snapshot"}
                if slug == "acme-shop"
                else {"fct_campaign_daily", "campaigns_snapshot"}
            )
            schedules = client.get(f"/api/v1/orgs/{slug}/schedules", headers=h).json()["items"]
            assert len(schedules) == 1 and not schedules[0]["paused"]
        rows = client.post(
            "/api/v1/orgs/acme-shop/warehouse/query",
            json={"sql": "SELECT count(*) FROM raw.orders"},
            headers=h,
        ).json()["rows"]
        assert rows[0][0] > 1000


def _raw_secret(client) -> str:
    async def go():
        async with client.app.state.db.sessionmaker() as s:
            return (
                await s.execute(sa.select(sa.type_coerce(OrgSecret.value, sa.Text)))
            ).scalar_one()

    return client.portal.call(go)


def test_secrets_rotate_with_file_managed_keys(settings):
    # Keys live in <data_dir>/encryption_keys.
    settings = Settings(
        _env_file=None,
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        bcrypt_rounds=4,
    )
    old_key = settings.fernet_keys[0]
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        create_org(client, ada, "Acme")
        client.put(
            "/api/v1/orgs/acme/secrets", json={"name": "TOKEN", "value": "v-1"}, headers=ada.h
        )
        before = _raw_secret(client)
    r = tenantry(settings, "secrets", "rotate", "--generate", "--drop-old")
    assert r.returncode == 0, r.stderr
    assert "Re-encrypted 1 secret value" in r.stdout
    keys = (settings.data_dir / "encryption_keys").read_text().split()
    assert len(keys) == 1 and keys[0] != old_key
    fresh = Settings(
        _env_file=None,
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        bcrypt_rounds=4,
    )
    with TestClient(create_app(fresh)) as client:
        after = _raw_secret(client)
        assert after != before
        assert Fernet(keys[0].encode()).decrypt(after.encode()) == b'"v-1"'
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(after.encode())
        # Still usable by the platform under the new key.
        ada = client.post(
            "/api/v1/auth/login",
            json={"email": "ada@example.com", "password": "correct-horse-battery"},
        )
        h = {"Authorization": f"Bearer {ada.json()['access_token']}"}
        assert (
            client.get("/api/v1/orgs/acme/secrets", headers=h).json()["items"][0]["value"]
            == "********"
        )


def test_secrets_rotate_with_env_keys_refuses_file_options(settings):
    new = Fernet.generate_key().decode()
    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        create_org(client, ada, "Acme")
        client.put(
            "/api/v1/orgs/acme/secrets", json={"name": "TOKEN", "value": "v-1"}, headers=ada.h
        )
    r = tenantry(settings, "secrets", "rotate", "--generate")
    assert r.returncode == 1 and "TENANTRY_ENCRYPTION_KEYS" in r.stderr
    both = f"{new},{settings.encryption_keys}"
    r = tenantry(settings, "secrets", "rotate", env={"TENANTRY_ENCRYPTION_KEYS": both})
    assert r.returncode == 0, r.stderr
    settings.encryption_keys = new
    with TestClient(create_app(settings)) as client:
        assert Fernet(new.encode()).decrypt(_raw_secret(client).encode()) == b'"v-1"'


def test_serve_refuses_an_out_of_date_postgres(requires_postgres, tmp_path):
    import asyncio
    import uuid

    from tenantry.core.db import make_engine

    name = "tenantry_cli_" + uuid.uuid4().hex[:8]

    async def ddl(stmt):
        engine = make_engine(requires_postgres).execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(sa.text(stmt))
        await engine.dispose()

    asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
    try:
        url = requires_postgres.rsplit("/", 1)[0] + "/" + name
        r = tenantry(
            None,
            "serve",
            "--port",
            "8799",
            env={"TENANTRY_DATABASE_URL": url, "TENANTRY_DATA_DIR": str(tmp_path)},
        )
        assert r.returncode == 1
        assert "tenantry db upgrade" in r.stderr and "Traceback" not in r.stderr
    finally:
        asyncio.run(ddl(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_connections_list_and_test(settings):
    import sqlite3

    from tenantry.connections.storage import org_files

    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        org = create_org(client, ada, "Acme")
        db = sqlite3.connect(org_files(settings, org["id"]) / "shop.db")
        db.execute("create table t (a int)")
        db.commit()
        db.close()
        client.post(
            "/api/v1/orgs/acme/connections",
            json={"name": "Shop", "kind": "sqlite", "config": {"path": "shop.db"}},
            headers=ada.h,
        )
        client.post(
            "/api/v1/orgs/acme/connections",
            json={"name": "Gone", "kind": "sqlite", "config": {"path": "missing.db"}},
            headers=ada.h,
        )
    listed = tenantry(settings, "connections", "list", "--org", "acme")
    assert listed.returncode == 0 and "Shop" in listed.stdout and "never tested" in listed.stdout
    ok = tenantry(settings, "connections", "test", "Shop", "--org", "acme")
    assert ok.returncode == 0 and "ok: SQLite file; 1 table(s)" in ok.stdout
    bad = tenantry(settings, "connections", "test", "Gone", "--org", "acme")
    assert bad.returncode == 1 and "no file 'missing.db'" in bad.stderr
    nobody = tenantry(settings, "connections", "test", "Shop", "--org", "nope")
    assert nobody.returncode == 1 and "no organization" in nobody.stderr


def test_pipelines_run_and_runs_logs_list_retry(settings):
    import sqlite3

    from tenantry.connections.storage import org_files

    with TestClient(create_app(settings)) as client:
        ada = signup(client, "ada@example.com")
        org = create_org(client, ada, "Acme")
        db = sqlite3.connect(org_files(settings, org["id"]) / "shop.db")
        db.execute("create table orders (id int primary key, total real)")
        db.executemany("insert into orders values (?, ?)", [(i, i / 2) for i in range(42)])
        db.commit()
        db.close()
        source = client.post(
            "/api/v1/orgs/acme/connections",
            json={"name": "Shop", "kind": "sqlite", "config": {"path": "shop.db"}},
            headers=ada.h,
        ).json()["id"]
        for name, table in (("Orders", "orders"), ("Broken", "no_such_table")):
            client.post(
                "/api/v1/orgs/acme/pipelines",
                json={"name": name, "source_id": source, "spec": {"mode": "table", "table": table}},
                headers=ada.h,
            )
    done = tenantry(settings, "pipelines", "run", "Orders", "--org", "acme", "--wait")
    assert done.returncode == 0, done.stderr
    assert "Extracting orders" in done.stdout and "Succeeded: 42 rows" in done.stdout
    assert "run succeeded" in done.stderr
    broken = tenantry(settings, "pipelines", "run", "Broken", "--org", "acme")
    assert broken.returncode == 1 and "run failed" in broken.stderr
    listed = tenantry(settings, "pipelines", "list", "--org", "acme")
    assert "Orders" in listed.stdout and "succeeded" in listed.stdout and "failed" in listed.stdout
    runs = tenantry(settings, "runs", "list", "--org", "acme")
    assert runs.returncode == 0 and runs.stdout.count("pipeline") == 2
    failed_id = next(line.split()[0] for line in runs.stdout.splitlines() if "failed" in line)
    log = tenantry(settings, "runs", "logs", failed_id, "--org", "acme", "--follow")
    assert log.returncode == 1 and "no_such_table" in log.stdout
    again = tenantry(settings, "runs", "retry", failed_id, "--org", "acme", "--wait")
    assert again.returncode == 1 and "attempt 2" in again.stdout
    gone = tenantry(settings, "runs", "logs", "0" * 32, "--org", "acme")
    assert gone.returncode == 1 and "no such run" in gone.stderr
