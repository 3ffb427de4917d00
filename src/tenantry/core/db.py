"""The metadata store: declarative base, column conventions, engine and sessions.

SQLite (WAL, busy timeout, foreign keys on) is the embedded default; PostgreSQL is used as is.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Datetimes from users: naive ones are taken as UTC, aware ones converted to UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(sa.TypeDecorator):
    """Timezone-aware UTC on the way in and out, also on SQLite (which stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@asynccontextmanager
async def unique_or_conflict(session: AsyncSession, field: str, message: str):
    """Turn a unique-constraint violation (two requests racing past a pre-check) into the same
    409 the pre-check gives, with the transaction rolled back — never a 500, never half a write."""
    from sqlalchemy.exc import IntegrityError

    from tenantry.core.errors import Conflict

    try:
        yield
    except IntegrityError:
        await session.rollback()
        raise Conflict(message, errors=[{"field": field, "message": "is taken"}]) from None


def insert_for(session: AsyncSession, table):
    """The dialect's INSERT (SQLite or PostgreSQL), for ``on_conflict_do_nothing``."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SoftDeleteMixin:
    """For objects users expect to undo: rows stay, ``deleted_at`` hides them from every query."""

    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: bound values (ciphertext, hashes, emails) stay out of logs and errors.
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


class Database:
    """An engine plus its session factory; one per process (the app and the CLI each build one)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()


SESSION_STATE_KEY = "tenantry_db_session"


class SessionCloseMiddleware:
    """Closes the request's database session, if one was opened, once the response is done.

    A plain dependency plus this middleware costs far less per request than a generator
    dependency, and still closes on every path, errors included. Commits stay explicit in the
    services; closing only releases the connection (rolling back anything uncommitted).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            session = scope.get("state", {}).pop(SESSION_STATE_KEY, None)
            if session is not None:
                await session.close()
