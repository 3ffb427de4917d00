"""One linear Alembic history that matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from tenantry.app import create_app
from tenantry.core import migrate
from tenantry.core.db import make_engine
from tenantry.core.errors import ConfigurationError
from tenantry.models import metadata
from tests.conftest import make_settings


def test_history_is_linear():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert all(len(r._all_down_revisions) <= 1 for r in revisions)


def _diff(url: str) -> list:
    async def go():
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": False}), metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_migrations_match_the_models(db_template):
    kind, source = db_template
    url = source if kind == "postgresql" else f"sqlite+aiosqlite:///{source}"
    assert _diff(url) == []


def test_embedded_sqlite_migrates_itself_on_start(tmp_path):
    settings = make_settings(tmp_path / "fresh")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["revision"] == migrate.head_revision()
    assert (tmp_path / "fresh" / "tenantry.db").exists()


@pytest.fixture
def empty_postgres(requires_postgres):
    """A brand-new database on the same server, dropped afterwards."""
    name = "tenantry_empty_" + uuid.uuid4().hex[:8]

    async def ddl(stmt):
        admin = make_engine(requires_postgres).execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(sa.text(stmt))
        finally:
            await admin.dispose()

    asyncio.run(ddl(f'CREATE DATABASE "{name}"'))
    base = requires_postgres.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(ddl(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_out_of_date_postgres_refuses_to_start(empty_postgres, tmp_path):
    settings = make_settings(tmp_path, database_url=empty_postgres)
    with (
        pytest.raises(ConfigurationError, match="tenantry db upgrade"),
        TestClient(create_app(settings)),
    ):
        pass
    # After the upgrade, it starts.
    engine = make_engine(empty_postgres)
    asyncio.run(migrate.upgrade(engine))
    asyncio.run(engine.dispose())
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["status"] == "ready"


def test_postgres_migrations_run_down_and_up(empty_postgres):
    async def go():
        engine = make_engine(empty_postgres)
        try:
            await migrate.upgrade(engine)
            from alembic import command

            cfg = migrate.alembic_config()

            def down(conn):
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "base")

            async with engine.begin() as conn:
                await conn.run_sync(down)
            assert await migrate.current_revision(engine) is None
            await migrate.upgrade(engine)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == migrate.head_revision()


def test_readyz_reports_pending_migrations(tmp_path):
    settings = make_settings(tmp_path / "d")
    with TestClient(create_app(settings)) as client:

        async def stamp_old():
            async with client.app.state.db.engine.begin() as conn:
                await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'old'"))

        client.portal.call(stamp_old)
        r = client.get("/readyz")
        assert r.status_code == 503 and "tenantry db upgrade" in r.json()["detail"]
        # Alive all the same: the process is fine, the database needs an operator.
        assert client.get("/healthz").json() == {"status": "ok"}
