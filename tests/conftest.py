"""Test fixtures: a real metadata store per test (SQLite by default; PostgreSQL and Redis when
TENANTRY_TEST_POSTGRES_URL / TENANTRY_TEST_REDIS_URL are set — then they must be reachable)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core import migrate, secrets
from tenantry.core.config import Settings, normalize_database_url, set_settings
from tenantry.core.db import make_engine

PG_ENV = "TENANTRY_TEST_POSTGRES_URL"
REDIS_ENV = "TENANTRY_TEST_REDIS_URL"

STORE_FIXTURES = {"settings", "client", "world", "db_template", "postgres_url", "redis_url"}


def pytest_collection_modifyitems(items):
    # Whatever touches the metadata store or cache is a store test (re-run on PostgreSQL/Redis).
    for item in items:
        if STORE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.store)


async def _pg_ping(url: str) -> None:
    import sqlalchemy as sa

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    raw = os.environ.get(PG_ENV)
    if not raw:
        return None
    url = normalize_database_url(raw)
    try:
        asyncio.run(_pg_ping(url))
    except Exception as exc:  # set but unreachable: a failure, never a skip
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {exc}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    url = os.environ.get(REDIS_ENV)
    if not url:
        return None
    import redis

    try:
        redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        pytest.fail(f"{REDIS_ENV} is set but Redis is unreachable: {exc}")
    return url


@pytest.fixture
def requires_postgres(postgres_url):
    if postgres_url is None:
        pytest.skip("TENANTRY_TEST_POSTGRES_URL is not set (CI sets it)")
    return postgres_url


@pytest.fixture
def requires_redis(redis_url):
    if redis_url is None:
        pytest.skip("TENANTRY_TEST_REDIS_URL is not set (CI sets it)")
    return redis_url


async def _truncate_all(url: str) -> None:
    import sqlalchemy as sa

    from tenantry.models import metadata

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def db_template(tmp_path_factory, postgres_url):
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL test database."""
    if postgres_url:
        engine = make_engine(postgres_url)
        asyncio.run(migrate.upgrade(engine))
        asyncio.run(engine.dispose())
        return ("postgresql", postgres_url)
    path = tmp_path_factory.mktemp("template") / "tenantry.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")

    async def go():
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(go())
    return ("sqlite", path)


def make_settings(data_dir, database_url=None, redis_url=None, **overrides) -> Settings:
    values = dict(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        bcrypt_rounds=4,
        secret_key="test-root-key-" + uuid.uuid4().hex,
        encryption_keys=Fernet.generate_key().decode(),
        base_url="http://testserver",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path, db_template, redis_url):
    kind, source = db_template
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if kind == "sqlite":
        shutil.copy(source, data_dir / "tenantry.db")
        url = None
    else:
        asyncio.run(_truncate_all(source))
        url = source
    if redis_url:
        import redis

        r = redis.from_url(redis_url)
        for key in r.scan_iter("tenantry:*"):
            r.delete(key)
    s = make_settings(data_dir, url, redis_url)
    set_settings(s)
    secrets.configure(s.fernet_keys)
    yield s
    set_settings(None)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def world(client):
    from tests.helpers import build_world

    return build_world(client)


async def _admin(url: str, *statements: str) -> list:
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    out = []
    try:
        async with engine.connect() as conn:
            for stmt in statements:
                result = await conn.execute(sa.text(stmt))
                out.append(result.fetchall() if result.returns_rows else None)
    finally:
        await engine.dispose()
    return out


@pytest.fixture
def pg_warehouse(requires_postgres, settings):
    """A throwaway warehouse database; the roles made for it are dropped afterwards."""
    name = "tenantry_wh_" + uuid.uuid4().hex[:8]
    before = {
        r[0] for r in asyncio.run(_admin(requires_postgres, "select rolname from pg_roles"))[0]
    }
    asyncio.run(_admin(requires_postgres, f'CREATE DATABASE "{name}"'))
    url = requires_postgres.rsplit("/", 1)[0] + "/" + name
    settings.warehouse_kind = "postgres"
    settings.warehouse_postgres_url = url
    yield url
    asyncio.run(_admin(requires_postgres, f'DROP DATABASE "{name}" WITH (FORCE)'))
    after = {
        r[0] for r in asyncio.run(_admin(requires_postgres, "select rolname from pg_roles"))[0]
    }
    for role in sorted(after - before):
        asyncio.run(_admin(requires_postgres, f'DROP ROLE "{role}"'))


@pytest.fixture
def requires_mysql():
    """MariaDB/MySQL for source tests: skipped when unset, a failure when set but unreachable."""
    from urllib.parse import urlsplit

    raw = os.environ.get("TENANTRY_TEST_MYSQL_URL")
    if not raw:
        pytest.skip("TENANTRY_TEST_MYSQL_URL is not set (CI sets it)")
    url = urlsplit(raw)
    import pymysql

    try:
        pymysql.connect(
            host=url.hostname,
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            database=url.path.lstrip("/"),
            connect_timeout=5,
        ).close()
    except Exception as exc:
        pytest.fail(f"TENANTRY_TEST_MYSQL_URL is set but MariaDB is unreachable: {exc}")
    return url
