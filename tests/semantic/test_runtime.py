"""The compiled-model cache: bounded, keyed by (organization, version), and a slow compile of one
organization never holds up another's."""

from __future__ import annotations

import asyncio
import threading

from tenantry.semantic.runtime import ModelCache


def test_one_tenants_slow_compile_does_not_block_another():
    async def main():
        cache = ModelCache(size=10)
        release = threading.Event()
        started = threading.Event()

        def slow():
            started.set()
            release.wait(5)
            return "model of A"

        a = asyncio.ensure_future(cache.get(("org-a", 1), slow))
        await asyncio.to_thread(started.wait, 5)
        # A is still compiling; B compiles and answers meanwhile.
        b = await asyncio.wait_for(cache.get(("org-b", 1), lambda: "model of B"), 2)
        assert b == "model of B" and not a.done()
        # A second asker of A waits for the same compile instead of starting another.
        again = asyncio.ensure_future(cache.get(("org-a", 1), lambda: "a second compile"))
        release.set()
        assert await a == "model of A" and await again == "model of A"
        assert cache.compiles == 2

    asyncio.run(main())


def test_least_recently_used_models_leave_first():
    async def main():
        cache = ModelCache(size=2)
        for org in ("a", "b"):
            await cache.get((org, 1), lambda org=org: f"model {org}")
        assert cache.peek(("a", 1)) == "model a"  # a is now the most recent
        await cache.get(("c", 1), lambda: "model c")
        assert cache.peek(("b", 1)) is None and cache.peek(("a", 1)) == "model a"
        await cache.get(("a", 2), lambda: "model a v2")  # a new version is its own entry
        assert len(cache) == 2 and cache.peek(("a", 2)) == "model a v2"

    asyncio.run(main())
