"""A cache of successful credential → organization resolutions, so a request costs no query.

Correctness comes from invalidation, not from the TTL: every commit that touches organizations,
memberships, users or API keys clears the cache of this process at once (SQLAlchemy session
events), and — when Redis is configured — of every other replica through a pub/sub message. The
TTL only bounds staleness should a message be lost. Failures are never cached.

Entries are frozen snapshots, never ORM objects: a cached object must not be attached to (or
mutated through) another request's session. Services that change an organization or a user load
the row in their own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tenantry.tenancy.models import ApiKey, Membership, Organization, User

log = logging.getLogger("tenantry.authcache")
CHANNEL = "tenantry:auth-invalidate"
_WATCHED = (Organization, Membership, User, ApiKey)
_WATCHED_TABLES = {m.__tablename__ for m in _WATCHED}


@dataclass(frozen=True)
class OrgSnap:
    id: str
    slug: str
    name: str
    created_at: datetime
    deleted_at: datetime | None

    @classmethod
    def of(cls, o: Organization) -> OrgSnap:
        return cls(o.id, o.slug, o.name, o.created_at, o.deleted_at)


@dataclass(frozen=True)
class UserSnap:
    id: str
    email: str
    email_normalized: str
    name: str
    created_at: datetime
    is_active: bool

    @classmethod
    def of(cls, u: User) -> UserSnap:
        return cls(u.id, u.email, u.email_normalized, u.name, u.created_at, u.is_active)


@dataclass(frozen=True)
class KeySnap:
    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> KeySnap:
        return cls(k.id, k.name, k.prefix, tuple(k.scopes), k.expires_at, k.last_used_at)


# Process-wide generation: bumped by any commit that may change who can do what. Conservative
# (any change clears everything) so there is no per-object invalidation to get wrong.
_generation = 0
_publishers: list[Any] = []


def bump(publish: bool = True) -> None:
    global _generation
    _generation += 1
    if publish:
        for publisher in list(_publishers):
            publisher()


class AuthCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 50_000):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._data: dict[Any, tuple[int, float, Any]] = {}

    def get(self, key: Any) -> Any | None:
        if self.ttl <= 0:
            return None
        item = self._data.get(key)
        if item is None:
            return None
        gen, expires, value = item
        if gen != _generation or expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    def put(self, key: Any, value: Any, generation: int) -> None:
        """Store only if nothing changed since ``generation`` was read (before the query)."""
        if self.ttl <= 0 or generation != _generation:
            return
        if len(self._data) >= self.max_entries:
            self._data.clear()
        self._data[key] = (generation, time.monotonic() + self.ttl, value)


def generation() -> int:
    return _generation


# --- invalidation on commit -----------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, _WATCHED):
            session.info["auth_dirty"] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _bulk_statements(state) -> None:
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _WATCHED_TABLES:
            state.session.info["auth_dirty"] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("auth_dirty", False):
        bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("auth_dirty", None)


# --- cross-replica invalidation through Redis ------------------------------------------------


class RedisInvalidation:
    """Publishes this process's invalidations and applies other replicas' ones."""

    def __init__(self, url: str):
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_connect_timeout=5)
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CHANNEL)
        self._task = asyncio.create_task(self._listen(pubsub))
        _publishers.append(self._publish)

    async def _listen(self, pubsub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    bump(publish=False)
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:  # keep listening; the TTL bounds staleness meanwhile
                log.warning("auth cache invalidation listener: %s", type(exc).__name__)
                bump(publish=False)
                await asyncio.sleep(1)

    def _publish(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def send():
            try:
                await self._redis.publish(CHANNEL, "1")
            except Exception as exc:
                log.warning("auth cache invalidation not published: %s", type(exc).__name__)

        try:
            if asyncio.get_running_loop() is loop:
                loop.create_task(send())
                return
        except RuntimeError:
            pass
        asyncio.run_coroutine_threadsafe(send(), loop)

    async def stop(self) -> None:
        if self._publish in _publishers:
            _publishers.remove(self._publish)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
