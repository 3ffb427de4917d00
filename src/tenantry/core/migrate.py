"""Alembic, driven from code: upgrade, and compare the database's revision with the code's head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tenantry.core.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

# Alembic is imported inside the functions: it is slow to import and only needed at start-up.


def migrations_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_migrations", here.parents[3] / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise ConfigurationError("The migrations folder is missing from this installation.")


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config()

    def _run(sync_conn):
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def check_current(engine: AsyncEngine) -> tuple[str | None, str]:
    """(database revision, code head); raise when the database cannot be reached."""
    try:
        current = await current_revision(engine)
    except Exception as exc:  # the driver's own errors vary; name the problem, hide the DSN
        raise ConfigurationError(
            f"Cannot reach the metadata database ({type(exc).__name__}); "
            "check TENANTRY_DATABASE_URL and that the server is running."
        ) from None
    return current, head_revision()


async def ensure_current(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """Embedded SQLite migrates itself; a shared database must be upgraded deliberately."""
    current, head = await check_current(engine)
    if current == head:
        return
    if auto_upgrade:
        await upgrade(engine)
        return
    raise ConfigurationError(
        f"The metadata database is at revision {current or '(empty)'} but this Tenantry needs "
        f"{head}. Run `tenantry db upgrade` (with the same TENANTRY_DATABASE_URL), "
        "then start again."
    )


async def new_revision(engine: AsyncEngine, message: str) -> str:
    """Autogenerate a migration from the difference between the models and the database."""
    from alembic import command

    cfg = alembic_config()
    created = []

    def _run(sync_conn):
        cfg.attributes["connection"] = sync_conn
        script = command.revision(cfg, message=message, autogenerate=True)
        created.append(script.path)

    async with engine.begin() as conn:
        await conn.run_sync(_run)
    return created[0]
