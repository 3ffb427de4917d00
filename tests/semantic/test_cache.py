"""Semantic-layer result cache: backends, keys, in-flight dedup, Cube cache modes, refresh keys."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import redis.asyncio as redis

from tenantry.semantic.cache import (
    MODES,
    CacheEntry,
    Inflight,
    MemoryCache,
    RedisCache,
    RefreshKeys,
    cache_key,
    every_value,
    load,
    make_cache,
)


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Compute:
    """A query execution the test controls: it blocks on `gate` unless opened from the start."""

    def __init__(
        self, value: dict | None = None, *, open_: bool = True, error: Exception | None = None
    ):
        self.value = value if value is not None else {"data": [{"n": 1}]}
        self.error = error
        self.gate = asyncio.Event()
        if open_:
            self.gate.set()
        self.started = asyncio.Event()
        self.calls = 0

    async def __call__(self) -> dict:
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value


def entry(value: dict, refresh: str = "r1", created: float = 1.0) -> CacheEntry:
    return CacheEntry(value=value, refresh_value=refresh, created_at=created)


def cost(key: str, e: CacheEntry) -> int:
    return len(key) + len(e.to_json())


# --- MemoryCache ---------------------------------------------------------------------------------


async def test_memory_cache_round_trip_returns_a_copy():
    cache = MemoryCache(10_000)
    await cache.set("k", entry({"data": [1, 2]}), None)
    got = await cache.get("k")
    assert got == entry({"data": [1, 2]})
    got.value["data"].append(3)  # a caller decorating its result must not corrupt the cache
    assert (await cache.get("k")).value == {"data": [1, 2]}
    assert await cache.get("missing") is None


async def test_memory_cache_evicts_least_recently_used_by_bytes():
    a, b, c = entry({"v": "a" * 100}), entry({"v": "b" * 100}), entry({"v": "c" * 100})
    cache = MemoryCache(cost("a", a) * 2 + 10)  # room for two entries, not three
    await cache.set("a", a, None)
    await cache.set("b", b, None)
    assert await cache.get("a") == a  # touching "a" makes "b" the least recently used
    await cache.set("c", c, None)
    assert await cache.get("b") is None
    assert await cache.get("a") == a
    assert await cache.get("c") == c
    assert cache.size_bytes <= cache.max_bytes
    assert len(cache) == 2


async def test_memory_cache_one_big_entry_evicts_several_small_ones():
    small = entry({"v": "x"})
    big = entry({"v": "y" * 300})
    cache = MemoryCache(cost("big", big) + cost("s0", small))
    for i in range(5):
        await cache.set(f"s{i}", small, None)
    await cache.set("big", big, None)
    assert await cache.get("big") == big
    assert cache.size_bytes <= cache.max_bytes
    assert await cache.get("s0") is None  # oldest ones went first
    assert await cache.get("s4") == small


async def test_memory_cache_does_not_store_an_entry_larger_than_the_budget():
    cache = MemoryCache(200)
    await cache.set("keep", entry({"v": 1}), None)
    await cache.set("huge", entry({"v": "z" * 500}), None)
    assert await cache.get("huge") is None
    assert await cache.get("keep") == entry({"v": 1})  # nothing evicted for an entry never stored
    # Replacing a key with an oversize value drops the old one rather than serving it on.
    await cache.set("keep", entry({"v": "z" * 500}), None)
    assert await cache.get("keep") is None
    assert cache.size_bytes == 0


async def test_memory_cache_ttl_expiry():
    clock = Clock()
    cache = MemoryCache(10_000, clock=clock)
    await cache.set("short", entry({"v": 1}), 10)
    await cache.set("forever", entry({"v": 2}), None)
    clock.now += 9.9
    assert await cache.get("short") is not None
    clock.now += 0.2
    assert await cache.get("short") is None
    assert await cache.get("forever") is not None
    assert len(cache) == 1  # the expired entry freed its budget
    await cache.set("zero", entry({"v": 3}), 0)
    assert await cache.get("zero") is None


async def test_memory_cache_delete_and_clear_prefix():
    cache = MemoryCache(10_000)
    for k in ("org1:a", "org1:b", "org2:a"):
        await cache.set(k, entry({"k": k}), None)
    await cache.delete("org1:a")
    await cache.delete("never-there")
    assert await cache.get("org1:a") is None
    await cache.clear_prefix("org1:")
    assert await cache.get("org1:b") is None
    assert await cache.get("org2:a") == entry({"k": "org2:a"})


async def test_memory_cache_rejects_values_that_are_not_json():
    with pytest.raises(TypeError):
        await MemoryCache(10_000).set("k", entry({"v": Decimal("1.5")}), None)


def test_make_cache_picks_the_backend():
    cache = make_cache(None, 1234)
    assert isinstance(cache, MemoryCache) and cache.max_bytes == 1234
    assert isinstance(make_cache("redis://127.0.0.1:1/0", 1234), RedisCache)


# --- keys ----------------------------------------------------------------------------------------


def test_cache_key_is_stable_and_org_prefixed():
    key = cache_key("org1", "SELECT 1", [1, "a"])
    assert key == cache_key("org1", "SELECT 1", (1, "a"))
    org, digest = key.split(":")
    assert org == "org1" and len(digest) == 64
    assert cache_key("org2", "SELECT 1", [1, "a"]) != key
    assert cache_key("org2", "SELECT 1", [1, "a"]).endswith(digest)  # only the org tells them apart
    assert cache_key("org1", "SELECT 2", [1, "a"]) != key
    assert cache_key("org1", "SELECT 1") == cache_key("org1", "SELECT 1", [])


def test_cache_key_distinguishes_param_types():
    keys = {
        cache_key("o", "q", [1]),
        cache_key("o", "q", ["1"]),
        cache_key("o", "q", [Decimal("1")]),
        cache_key("o", "q", [dt.date(2024, 1, 1)]),
        cache_key("o", "q", ["2024-01-01"]),
    }
    assert len(keys) == 5


@pytest.mark.parametrize("org_id", ["", "a:b"])
def test_cache_key_rejects_ambiguous_org_ids(org_id):
    with pytest.raises(ValueError, match="org_id"):
        cache_key(org_id, "SELECT 1")


async def test_clearing_one_org_leaves_the_other():
    cache = MemoryCache(10_000)
    k1, k2 = cache_key("org1", "SELECT 1"), cache_key("org2", "SELECT 1")
    await cache.set(k1, entry({"org": 1}), None)
    await cache.set(k2, entry({"org": 2}), None)
    await cache.clear_prefix("org1:")
    assert await cache.get(k1) is None
    assert (await cache.get(k2)).value == {"org": 2}


# --- Inflight ------------------------------------------------------------------------------------


async def test_inflight_runs_concurrent_callers_once():
    inflight, compute = Inflight(), Compute(open_=False)
    waiters = [asyncio.create_task(inflight.run("k", compute, wait=30)) for _ in range(10)]
    await compute.started.wait()
    compute.gate.set()
    results = await asyncio.gather(*waiters)
    assert results == [compute.value] * 10
    assert compute.calls == 1


async def test_inflight_continue_wait_then_rerequest_joins_the_running_execution():
    inflight, compute = Inflight(), Compute(open_=False)
    assert await inflight.run("k", compute, wait=0.05) is None  # Continue wait
    rerequest = asyncio.create_task(inflight.run("k", compute, wait=30))
    await asyncio.sleep(0)
    compute.gate.set()
    assert await rerequest == compute.value
    assert compute.calls == 1


async def test_inflight_rerequest_after_completion_gets_the_result_at_once():
    inflight, compute = Inflight(), Compute(open_=False)
    assert await inflight.run("k", compute, wait=0.01) is None
    compute.gate.set()
    await inflight.start("k", compute)  # the same execution, awaited to its end
    assert await inflight.run("k", compute, wait=0) == compute.value  # no waiting needed
    assert compute.calls == 1


async def test_inflight_forgets_results_after_the_grace_period():
    inflight, compute = Inflight(grace=0), Compute()
    assert await inflight.run("k", compute, wait=30) == compute.value
    await asyncio.sleep(0.01)  # lets the grace timer fire
    assert await inflight.run("k", compute, wait=30) == compute.value
    assert compute.calls == 2


async def test_inflight_failure_reaches_every_waiter_and_is_retried():
    inflight, compute = Inflight(), Compute(open_=False, error=RuntimeError("boom"))
    waiters = [asyncio.create_task(inflight.run("k", compute, wait=30)) for _ in range(3)]
    await compute.started.wait()
    compute.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [str(r) for r in results] == ["boom"] * 3
    assert all(isinstance(r, RuntimeError) for r in results)
    compute.error = None
    assert await inflight.run("k", compute, wait=30) == compute.value
    assert compute.calls == 2


async def test_inflight_failure_after_continue_wait_is_retried():
    inflight, compute = Inflight(), Compute(open_=False, error=RuntimeError("boom"))
    assert await inflight.run("k", compute, wait=0.01) is None
    task = inflight.start("k", compute)
    compute.gate.set()
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run
    compute.error = None
    assert await inflight.run("k", compute, wait=30) == compute.value
    assert compute.calls == 2


async def test_inflight_waiter_cancellation_does_not_cancel_the_execution():
    inflight, compute = Inflight(), Compute(open_=False)
    waiter = asyncio.create_task(inflight.run("k", compute, wait=30))
    await compute.started.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    compute.gate.set()
    assert await inflight.run("k", compute, wait=30) == compute.value
    assert compute.calls == 1


# --- load: Cube cache modes ----------------------------------------------------------------------

KEY = cache_key("org1", "SELECT count(*) FROM orders")
OLD = {"data": [{"n": 0}]}
NEW = {"data": [{"n": 1}]}


async def _load(cache, inflight, compute, mode, *, refresh="r2", wait=0.05, ttl=None):
    return await load(
        cache=cache,
        inflight=inflight,
        key=KEY,
        refresh_value=refresh,
        compute=compute,
        mode=mode,
        continue_wait=wait,
        ttl=ttl,
    )


async def _seed(cache, refresh="r1"):
    await cache.set(KEY, entry(OLD, refresh=refresh, created=111.0), None)


async def _join(cache, inflight, compute, refresh="r2"):
    """Waits for the execution already running for (KEY, refresh) and returns its outcome."""
    return await _load(cache, inflight, compute, "must-revalidate", refresh=refresh, wait=30)


async def test_unknown_mode_names_the_allowed_ones():
    compute = Compute(NEW)
    with pytest.raises(ValueError) as err:
        await _load(MemoryCache(10_000), Inflight(), compute, "sometimes")
    assert compute.calls == 0
    for mode in MODES:
        assert mode in str(err.value)


@pytest.mark.parametrize("mode", ["stale-if-slow", "stale-while-revalidate", "must-revalidate"])
async def test_fresh_entry_is_served_without_computing(mode):
    cache, compute = MemoryCache(10_000), Compute(NEW)
    await _seed(cache, refresh="r2")
    out = await _load(cache, Inflight(), compute, mode)
    assert (out.value, out.from_cache, out.stale, out.last_refresh_time) == (
        OLD,
        True,
        False,
        111.0,
    )
    assert compute.calls == 0


@pytest.mark.parametrize("mode", MODES)
async def test_miss_computes_and_stores(mode):
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW)
    out = await _load(cache, inflight, compute, mode, wait=30)
    assert (out.value, out.from_cache, out.stale) == (NEW, False, False)
    stored = await cache.get(KEY)
    assert stored.value == NEW and stored.refresh_value == "r2"
    assert out.last_refresh_time == stored.created_at
    if mode != "no-cache":
        again = await _load(cache, inflight, compute, mode)
        assert (again.value, again.from_cache) == (NEW, True)
    assert compute.calls == 1


async def test_stale_if_slow_fast_refresh_replaces_stale_entry():
    cache, compute = MemoryCache(10_000), Compute(NEW)
    await _seed(cache)
    out = await _load(cache, Inflight(), compute, "stale-if-slow", wait=30)
    assert (out.value, out.from_cache, out.stale) == (NEW, False, False)
    assert (await cache.get(KEY)).refresh_value == "r2"


async def test_stale_if_slow_serves_stale_and_stores_the_result_later():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    await _seed(cache)
    out = await _load(cache, inflight, compute, "stale-if-slow")
    assert (out.value, out.from_cache, out.stale, out.last_refresh_time) == (OLD, True, True, 111.0)
    assert (await cache.get(KEY)).value == OLD  # the execution is still running
    compute.gate.set()
    joined = await _join(cache, inflight, compute)
    assert joined.value == NEW
    assert compute.calls == 1  # the waiter that gave up left the execution running
    stored = await cache.get(KEY)
    assert (stored.value, stored.refresh_value) == (NEW, "r2")


async def test_stale_if_slow_without_entry_answers_continue_wait_then_delivers():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    out = await _load(cache, inflight, compute, "stale-if-slow")
    assert (out.value, out.from_cache, out.stale, out.last_refresh_time) == (
        None,
        False,
        False,
        None,
    )
    compute.gate.set()
    again = await _load(cache, inflight, compute, "stale-if-slow", wait=30)
    assert again.value == NEW
    assert compute.calls == 1


async def test_stale_while_revalidate_serves_stale_at_once_and_refreshes_once():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    await _seed(cache)
    outs = await asyncio.gather(
        *(_load(cache, inflight, compute, "stale-while-revalidate", wait=30) for _ in range(5))
    )
    # The gate is closed, so these answers cannot have waited for the refresh.
    assert all((o.value, o.stale, o.from_cache) == (OLD, True, True) for o in outs)
    await compute.started.wait()
    compute.gate.set()
    assert (await _join(cache, inflight, compute)).value == NEW
    assert compute.calls == 1
    out = await _load(cache, inflight, compute, "stale-while-revalidate")
    assert (out.value, out.from_cache, out.stale) == (NEW, True, False)


async def test_stale_while_revalidate_without_entry_is_like_stale_if_slow():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    out = await _load(cache, inflight, compute, "stale-while-revalidate")
    assert out.value is None
    compute.gate.set()
    assert (await _join(cache, inflight, compute)).value == NEW
    assert (await cache.get(KEY)).value == NEW


async def test_must_revalidate_never_serves_stale():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    await _seed(cache)
    out = await _load(cache, inflight, compute, "must-revalidate")
    assert (out.value, out.stale) == (None, False)  # Continue wait, not the stale entry
    compute.gate.set()
    again = await _load(cache, inflight, compute, "must-revalidate", wait=30)
    assert (again.value, again.from_cache, again.stale) == (NEW, False, False)
    assert compute.calls == 1


async def test_no_cache_computes_despite_a_fresh_entry_and_stores():
    cache, compute = MemoryCache(10_000), Compute(NEW)
    await _seed(cache, refresh="r2")
    out = await _load(cache, Inflight(), compute, "no-cache", wait=30)
    assert (out.value, out.from_cache, out.stale) == (NEW, False, False)
    assert compute.calls == 1
    stored = await cache.get(KEY)
    assert stored.value == NEW and stored.created_at == out.last_refresh_time != 111.0


async def test_no_cache_slow_answers_continue_wait_even_with_an_entry():
    cache, inflight, compute = MemoryCache(10_000), Inflight(), Compute(NEW, open_=False)
    await _seed(cache, refresh="r2")
    out = await _load(cache, inflight, compute, "no-cache")
    assert out.value is None
    compute.gate.set()
    assert (await _load(cache, inflight, compute, "no-cache", wait=30)).value == NEW
    assert compute.calls == 1


async def test_result_of_an_older_refresh_value_is_not_reused_as_fresh():
    cache, inflight = MemoryCache(10_000), Inflight()
    first = Compute(OLD)
    assert (await _load(cache, inflight, first, "no-cache", refresh="r1", wait=30)).value == OLD
    second = Compute(NEW)
    out = await _load(cache, inflight, second, "must-revalidate", refresh="r2", wait=30)
    assert out.value == NEW and second.calls == 1


async def test_load_passes_the_ttl_to_the_cache():
    clock = Clock()
    cache, compute = MemoryCache(10_000, clock=clock), Compute(NEW)
    await _load(cache, Inflight(), compute, "stale-if-slow", wait=30, ttl=60)
    clock.now += 61
    assert await cache.get(KEY) is None


async def test_failed_computation_propagates_and_keeps_the_stale_entry():
    cache, inflight = MemoryCache(10_000), Inflight()
    await _seed(cache)
    failing = Compute(error=RuntimeError("warehouse down"))
    with pytest.raises(RuntimeError, match="warehouse down"):
        await _load(cache, inflight, failing, "must-revalidate", wait=30)
    assert (await cache.get(KEY)).value == OLD
    ok = Compute(NEW)
    assert (await _load(cache, inflight, ok, "must-revalidate", wait=30)).value == NEW


async def test_background_failure_is_retried_by_the_next_request():
    cache, inflight = MemoryCache(10_000), Inflight()
    await _seed(cache)
    failing = Compute(open_=False, error=RuntimeError("boom"))
    out = await _load(cache, inflight, failing, "stale-if-slow")
    assert out.stale and out.value == OLD
    failing.gate.set()
    with pytest.raises(RuntimeError):
        await _join(cache, inflight, failing)
    assert (await cache.get(KEY)).value == OLD
    ok = Compute(NEW)
    assert (await _load(cache, inflight, ok, "stale-if-slow", wait=30)).value == NEW
    assert ok.calls == 1


async def test_non_json_result_fails_loudly():
    compute = Compute({"data": [{"amount": Decimal("1.5")}]})
    with pytest.raises(TypeError):
        await _load(MemoryCache(10_000), Inflight(), compute, "stale-if-slow", wait=30)


async def test_unreachable_redis_degrades_to_computing():
    cache = RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        out = await _load(cache, Inflight(), Compute(NEW), "stale-if-slow", wait=30)
    finally:
        await cache.aclose()
    assert (out.value, out.from_cache) == (NEW, False)


# --- refresh keys --------------------------------------------------------------------------------


def test_every_value_is_the_time_bucket():
    assert every_value(60, now=125.0) == "2"
    assert every_value(60, now=179.9) == "2"
    assert every_value(60, now=180.0) == "3"
    assert every_value(3600) == every_value(3600)


async def test_refresh_keys_memoize_for_the_check_interval():
    clock = Clock()
    keys = RefreshKeys(clock=clock)
    values = iter(["v1", "v2"])
    calls = []

    async def compute():
        calls.append(1)
        return next(values)

    assert await keys.value("org1:max_updated", compute, check_every=10) == "v1"
    clock.now += 9
    assert await keys.value("org1:max_updated", compute, check_every=10) == "v1"
    assert len(calls) == 1
    clock.now += 2
    assert await keys.value("org1:max_updated", compute, check_every=10) == "v2"
    assert len(calls) == 2


async def test_refresh_keys_are_memoized_per_key():
    keys = RefreshKeys()

    async def one():
        return "1"

    async def two():
        return "2"

    assert await keys.value("org1:q", one, 60) == "1"
    assert await keys.value("org2:q", two, 60) == "2"
    assert await keys.value("org1:q", two, 60) == "1"


async def test_refresh_keys_share_one_computation_and_do_not_memoize_failures():
    keys = RefreshKeys()
    gate, started = asyncio.Event(), asyncio.Event()
    calls = []

    async def compute():
        calls.append(1)
        started.set()
        await gate.wait()
        if len(calls) == 1:
            raise RuntimeError("refresh key query failed")
        return "v"

    waiters = [asyncio.create_task(keys.value("k", compute, 60)) for _ in range(5)]
    await started.wait()
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(calls) == 1
    assert await keys.value("k", compute, 60) == "v"
    assert len(calls) == 2


# --- Redis backend -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_cache(url: str):
    # Not an async fixture: those run on the session loop, and a client must stay on one loop.
    cache = RedisCache(url, prefix=f"tenantry:test:{uuid.uuid4().hex}:")
    try:
        yield cache
    finally:
        await cache.clear_prefix("")
        await cache.aclose()


async def test_redis_round_trip_ttl_and_delete(requires_redis):
    async with redis_cache(requires_redis) as cache:
        await cache.set("org1:a", entry({"v": [1, "x"]}), 30)
        await cache.set("org1:b", entry({"v": 2}), None)
        assert await cache.get("org1:a") == entry({"v": [1, "x"]})
        raw = redis.from_url(requires_redis)
        try:
            assert 0 < await raw.pttl(cache.prefix + "org1:a") <= 30_000
            assert await raw.pttl(cache.prefix + "org1:b") == -1  # no expiry
        finally:
            await raw.aclose()
        await cache.delete("org1:a")
        assert await cache.get("org1:a") is None
        await cache.set("org1:b", entry({"v": 3}), 0)
        assert await cache.get("org1:b") is None


async def test_redis_clear_prefix_is_scoped(requires_redis):
    async with redis_cache(requires_redis) as cache:
        for k in ("org1:a", "org1:b", "org2:a", "org1*x:a"):
            await cache.set(k, entry({"k": k}), 60)
        await cache.clear_prefix("org1*")  # glob characters are literal, not patterns
        assert await cache.get("org1*x:a") is None
        assert await cache.get("org1:a") is not None
        await cache.clear_prefix("org1:")
        assert await cache.get("org1:a") is None and await cache.get("org1:b") is None
        assert await cache.get("org2:a") == entry({"k": "org2:a"})


async def test_redis_cache_is_shared_by_replicas(requires_redis):
    async with redis_cache(requires_redis) as cache:
        other = RedisCache(requires_redis, prefix=cache.prefix)
        try:
            out = await _load(cache, Inflight(), Compute(NEW), "stale-if-slow", wait=30)
            assert out.value == NEW
            # Another replica (own process state) serves it from the shared cache without computing.
            compute = Compute(OLD)
            again = await _load(other, Inflight(), compute, "stale-if-slow")
            assert (again.value, again.from_cache, again.last_refresh_time) == (
                NEW,
                True,
                out.last_refresh_time,
            )
            assert compute.calls == 0
        finally:
            await other.aclose()
