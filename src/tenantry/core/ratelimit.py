"""Fixed-window failure counters for throttling (login attempts).

In memory for one process; Redis when ``TENANTRY_REDIS_URL`` is set so all replicas share counts.
"""

from __future__ import annotations

import math
import time
from typing import Protocol


class Counter(Protocol):
    async def hit(self, key: str, window: int) -> int: ...
    async def count(self, key: str) -> tuple[int, int]: ...
    async def reset(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        item = self._data.get(key)
        if item and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    async def hit(self, key: str, window: int) -> int:
        item = self._live(key)
        count, expires = item if item else (0, time.monotonic() + window)
        self._data[key] = (count + 1, expires)
        if len(self._data) > 100_000:  # bound memory under a spray of addresses
            now = time.monotonic()
            self._data = {k: v for k, v in self._data.items() if v[1] > now}
        return count + 1

    async def count(self, key: str) -> tuple[int, int]:
        """(failures in the current window, seconds until the window ends)."""
        item = self._live(key)
        if not item:
            return 0, 0
        return item[0], max(1, math.ceil(item[1] - time.monotonic()))

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        return None


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)

    async def ping(self) -> None:
        await self._redis.ping()

    async def hit(self, key: str, window: int) -> int:
        key = "tenantry:rl:" + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def count(self, key: str) -> tuple[int, int]:
        key = "tenantry:rl:" + key
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            value, ttl = await pipe.execute()
        return (int(value), max(1, int(ttl))) if value is not None else (0, 0)

    async def reset(self, key: str) -> None:
        await self._redis.delete("tenantry:rl:" + key)

    async def close(self) -> None:
        await self._redis.aclose()


def make_counter(redis_url: str | None) -> Counter:
    return RedisCounter(redis_url) if redis_url else MemoryCounter()
