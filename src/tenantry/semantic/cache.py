"""Result cache of the semantic layer, with Cube.js semantics.

A result is cached under an org-prefixed key together with the refresh-key value it was computed
under; a different current refresh-key value makes it stale. `load` applies Cube's cache modes,
and `Inflight` lets a slow query answer "Continue wait" while it keeps running, so the client's
re-request picks up the same execution instead of starting another.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Protocol, TypeVar

log = logging.getLogger("tenantry.semantic.cache")

T = TypeVar("T")

MODES = ("stale-if-slow", "stale-while-revalidate", "must-revalidate", "no-cache")
DEFAULT_MODE = "stale-if-slow"


@dataclass
class CacheEntry:
    value: dict
    refresh_value: str
    created_at: float

    def to_json(self) -> str:
        # Strict encoding: a value Redis could not store must fail in memory too.
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CacheEntry:
        return cls(**json.loads(raw))


class ResultCache(Protocol):
    async def get(self, key: str) -> CacheEntry | None: ...
    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float | None) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def clear_prefix(self, prefix: str) -> None: ...
    async def aclose(self) -> None: ...


class MemoryCache:
    """Per-process LRU bounded by the size of the entries' JSON encoding.

    Entries are kept encoded, so every `get` returns a fresh copy (callers may mutate it) and the
    memory backend behaves exactly like Redis. A threading lock (no await inside) also covers
    sync callers on other threads and use from several event loops.
    """

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic):
        self.max_bytes = max_bytes
        self._clock = clock
        self._items: OrderedDict[str, tuple[str, float | None]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, key: str) -> None:
        raw, _ = self._items.pop(key)
        self._size -= len(key) + len(raw)

    async def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            raw, expires_at = item
            if expires_at is not None and self._clock() >= expires_at:
                self._drop(key)
                return None
            self._items.move_to_end(key)
        return CacheEntry.from_json(raw)

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float | None) -> None:
        raw = entry.to_json()
        cost = len(key) + len(raw)  # characters: close enough to bytes for a budget
        with self._lock:
            if key in self._items:
                self._drop(key)
            if cost > self.max_bytes or (ttl_seconds is not None and ttl_seconds <= 0):
                return
            expires_at = None if ttl_seconds is None else self._clock() + ttl_seconds
            self._items[key] = (raw, expires_at)
            self._size += cost
            while self._size > self.max_bytes:
                self._drop(next(iter(self._items)))

    async def delete(self, key: str) -> None:
        with self._lock:
            if key in self._items:
                self._drop(key)

    async def clear_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                self._drop(key)

    async def aclose(self) -> None:
        return None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisCache:
    """Shared by replicas; Redis' own maxmemory policy bounds it."""

    def __init__(self, url: str, prefix: str = "tenantry:semantic:"):
        import redis.asyncio as redis

        self.prefix = prefix
        self._redis = redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self._redis.get(self.prefix + key)
        return None if raw is None else CacheEntry.from_json(raw)

    async def set(self, key: str, entry: CacheEntry, ttl_seconds: float | None) -> None:
        raw = entry.to_json()
        if ttl_seconds is not None and ttl_seconds <= 0:
            await self.delete(key)
            return
        # PX rather than EX: ttl is a float and EX would round sub-second ttls to 0 or up to 1 s.
        px = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        await self._redis.set(self.prefix + key, raw, px=px)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self.prefix + key)

    async def clear_prefix(self, prefix: str) -> None:
        batch: list[bytes] = []
        pattern = _glob_escape(self.prefix + prefix) + "*"
        async for name in self._redis.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= 500:
                await self._redis.delete(*batch)
                batch = []
        if batch:
            await self._redis.delete(*batch)

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_cache(redis_url: str | None, max_bytes: int) -> ResultCache:
    return RedisCache(redis_url) if redis_url else MemoryCache(max_bytes)


def cache_key(org_id: str, sql: str, params: list | tuple = ()) -> str:
    # The org id leads the key so `clear_prefix(f"{org_id}:")` covers exactly one organization;
    # a ":" inside it would let one org's prefix match another's keys.
    if not org_id or ":" in org_id:
        raise ValueError(f"org_id must be non-empty and contain no ':', got {org_id!r}")
    # Non-JSON params (dates, Decimals) are tagged with their type so 1, "1" and Decimal("1")
    # never share a key.
    payload = json.dumps(
        [sql, list(params)], separators=(",", ":"), default=lambda o: [type(o).__name__, str(o)]
    )
    return f"{org_id}:{hashlib.sha256(payload.encode()).hexdigest()}"


class Inflight:
    """Deduplicates executions by key within one process.

    A running task is held here (so it is never garbage-collected) until it finishes; a successful
    one then stays for `grace` seconds so a "Continue wait" re-request gets its result at once.
    """

    def __init__(self, grace: float = 60.0):
        self.grace = grace
        self._tasks: dict[str, asyncio.Future] = {}
        self._done_at: dict[str, float] = {}

    def start(
        self, key: str, factory: Callable[[], Awaitable[T]], max_age: float | None = None
    ) -> asyncio.Future[T]:
        """Join the execution under ``key`` (or start one). A finished one older than
        ``max_age`` seconds is not joined: the caller wants a newer answer."""
        task = self._tasks.get(key)
        too_old = max_age is not None and time.monotonic() - self._done_at.get(key, 0.0) > max_age
        if task is not None and task.done() and too_old:
            task = None
        # A task of another (closed) event loop could never be awaited here.
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            return task
        task = asyncio.ensure_future(factory())
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._finished(key, t))
        return task

    async def run(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        wait: float,
        max_age: float | None = None,
    ) -> T | None:
        task = self.start(key, factory, max_age)
        try:
            # shield: giving up (or being cancelled) must not cancel the shared execution.
            return await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            return None

    def _finished(self, key: str, task: asyncio.Future) -> None:
        if task.cancelled():
            self._forget(key, task)
        elif (exc := task.exception()) is not None:  # retrieved: no "never retrieved" noise
            # Forgotten so a retry re-executes; logged because a background run has no waiter.
            log.warning("semantic execution failed: %s", type(exc).__name__)
            self._forget(key, task)
        else:
            self._done_at[key] = time.monotonic()
            task.get_loop().call_later(self.grace, self._forget, key, task)

    def _forget(self, key: str, task: asyncio.Future) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
            self._done_at.pop(key, None)


@dataclass
class LoadOutcome:
    value: dict | None  # None: "Continue wait"
    from_cache: bool
    stale: bool
    last_refresh_time: float | None


async def _read(cache: ResultCache, key: str) -> CacheEntry | None:
    try:
        return await cache.get(key)
    except Exception as exc:  # the cache is an optimisation: an outage degrades to no-cache
        log.warning("semantic cache read failed: %s", type(exc).__name__)
        return None


async def _write(cache: ResultCache, key: str, entry: CacheEntry, ttl: float | None) -> None:
    try:
        await cache.set(key, entry, ttl)
    except (TypeError, ValueError):
        raise  # a result that is not JSON-able is a caller bug, not an outage
    except Exception as exc:
        log.warning("semantic cache write failed: %s", type(exc).__name__)


async def load(
    *,
    cache: ResultCache,
    inflight: Inflight,
    key: str,
    refresh_value: str,
    compute: Callable[[], Awaitable[dict]],
    mode: str,
    continue_wait: float,
    ttl: float | None,
) -> LoadOutcome:
    if mode not in MODES:
        raise ValueError(f"unknown cache mode {mode!r}; allowed: {', '.join(MODES)}")
    entry = None if mode == "no-cache" else await _read(cache, key)
    if entry is not None and entry.refresh_value == refresh_value:
        return _outcome(entry, from_cache=True)
    stale = None if mode == "must-revalidate" else entry

    async def execute() -> CacheEntry:
        # Runs as the shared task: it stores its result even when every waiter has given up.
        fresh = CacheEntry(await compute(), refresh_value, time.time())
        await _write(cache, key, fresh, ttl)
        return fresh

    # The refresh value is part of the execution key: a result computed under an older refresh
    # value (still in its grace period) must not be handed out as fresh for a newer one.
    run_key = f"{key}\x00{refresh_value}"
    if stale is not None and mode == "stale-while-revalidate":
        inflight.start(run_key, execute)
        return _outcome(stale, from_cache=True, stale=True)
    # no-cache: join a running execution (a "Continue wait" re-request), never a finished one.
    max_age = 0.0 if mode == "no-cache" else None
    fresh = await inflight.run(run_key, execute, continue_wait, max_age)
    if fresh is None and stale is not None:
        return _outcome(stale, from_cache=True, stale=True)
    return _outcome(fresh, from_cache=False)  # None: Continue wait


def _outcome(entry: CacheEntry | None, *, from_cache: bool, stale: bool = False) -> LoadOutcome:
    if entry is None:
        return LoadOutcome(None, from_cache=False, stale=False, last_refresh_time=None)
    return LoadOutcome(entry.value, from_cache, stale, last_refresh_time=entry.created_at)


def every_value(seconds: float, now: float | None = None) -> str:
    """Refresh-key value of Cube's `every` without `sql`: the index of the current time bucket."""
    return str(int((time.time() if now is None else now) // seconds))


class RefreshKeys:
    """Memoizes refresh-key values per key for `check_every` seconds (Cube's refresh key check)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._memo: dict[str, tuple[str, float]] = {}
        self._pending: dict[str, asyncio.Future[str]] = {}

    async def value(
        self, key: str, compute: Callable[[], Awaitable[str]], check_every: float
    ) -> str:
        hit = self._memo.get(key)
        if hit is not None and self._clock() < hit[1]:
            return hit[0]
        task = self._pending.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._compute(key, compute, check_every))
            self._pending[key] = task
            task.add_done_callback(lambda t: self._forget(key, t))
        # shield: one caller's cancellation must not cancel the computation the others share.
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Future) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _compute(
        self, key: str, compute: Callable[[], Awaitable[str]], check_every: float
    ) -> str:
        value = str(await compute())
        now = self._clock()
        # Drop expired memos so keys of deleted models do not pile up.
        for k in [k for k, (_, until) in self._memo.items() if until <= now]:
            del self._memo[k]
        self._memo[key] = (value, now + check_every)
        return value
