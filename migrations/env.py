"""Alembic environment: one linear history for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context

from tenantry.core.config import get_settings
from tenantry.core.db import make_engine
from tenantry.models import metadata

config = context.config


def _render_item(type_, obj, autogen_context):
    """Write our column types as the plain types they store, so migrations stand alone."""
    from tenantry.core.db import UTCDateTime
    from tenantry.core.secrets import EncryptedJSON

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedJSON):
        return "sa.Text()"
    return False


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name
        == "sqlite",  # SQLite needs table rebuilds for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(get_settings().resolved_database_url)
    async with engine.begin() as conn:
        await conn.run_sync(_configure)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _configure(connection)
else:
    asyncio.run(_run_async())
