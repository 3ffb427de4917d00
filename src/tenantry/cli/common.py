"""Shared CLI plumbing: settings, a database session, and errors turned into exit codes."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from tenantry.core.errors import TenantryError

if TYPE_CHECKING:
    from tenantry.core.config import Settings
    from tenantry.core.db import Database

# Exit codes scripts can trust: 0 done, 1 refused or failed (message on stderr), 2 bad usage.
EXIT_FAILED = 1


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(EXIT_FAILED)


def run(coro_fn: Callable) -> Callable:
    """Run an async command, mapping Tenantry errors to exit code 1 with a clean message."""

    @functools.wraps(coro_fn)
    def wrapper(*args, **kwargs):
        try:
            return asyncio.run(coro_fn(*args, **kwargs))
        except TenantryError as exc:
            fail(exc.detail)
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


def settings() -> Settings:
    # Imported here: `tenantry --help` must not pay for SQLAlchemy and cryptography.
    from tenantry.core import secrets
    from tenantry.core.config import get_settings

    s = get_settings()
    secrets.configure(s.fernet_keys)
    return s


async def open_db(s: Settings, *, migrate: bool = True) -> Database:
    from tenantry.core import migrate as migrations
    from tenantry.core.db import Database

    db = Database(s.resolved_database_url)
    if migrate:
        await migrations.ensure_current(db.engine, auto_upgrade=s.is_sqlite)
    return db


async def org_context(session, slug: str):
    """The organization by slug, acted on by the operator (as owner, audited as the CLI)."""
    import sqlalchemy as sa

    from tenantry.tenancy.authcache import OrgSnap
    from tenantry.tenancy.context import Caller, OrgContext
    from tenantry.tenancy.models import Organization

    org = await session.scalar(
        sa.select(Organization).where(Organization.slug == slug, Organization.deleted_at.is_(None))
    )
    if org is None:
        fail(f"no organization with slug '{slug}'; see `tenantry orgs list`")
    return OrgContext(org=OrgSnap.of(org), caller=Caller.system("cli"), role="owner")


@dataclass
class OrgCommand:
    settings: Settings
    db: Database
    session: Any
    ctx: Any


@asynccontextmanager
async def org_command(slug: str) -> AsyncIterator[OrgCommand]:
    """Settings, the store and the organization for a command acting on one organization."""
    s = settings()
    db = await open_db(s)
    try:
        async with db.session() as session:
            yield OrgCommand(s, db, session, await org_context(session, slug))
    finally:
        await db.dispose()
