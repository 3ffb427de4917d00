"""Per-process state of the semantic layer, every piece keyed by the tenant (organization id).

The model repository, the compiled-model cache, the warehouse connection and the
pre-aggregation storage are all looked up from the same ``org_id`` — there is no second,
shared identifier (Cube's orchestrator id) under which one tenant's connection could be
cached and served to another.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tenantry.core.config import Settings
from tenantry.semantic.cache import Inflight, RefreshKeys, make_cache


class TTLCache:
    """A small map whose entries expire; for facts that change rarely (keys, versions)."""

    def __init__(self, ttl: float, max_items: int = 10_000):
        self.ttl, self.max_items = ttl, max_items
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def drop(self, key: Any) -> None:
        self._items.pop(key, None)


class ModelCache:
    """Compiled models by (org_id, version): a bounded LRU. A compile runs in a thread under a
    lock of its own key, so one tenant's recompile never blocks another tenant's queries."""

    def __init__(self, size: int):
        self.size = size
        self._models: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self.compiles = 0

    def __len__(self) -> int:
        return len(self._models)

    def peek(self, key: tuple[str, int]) -> Any:
        model = self._models.get(key)
        if model is not None:
            self._models.move_to_end(key)
        return model

    async def get(self, key: tuple[str, int], build: Callable[[], Any]) -> Any:
        model = self.peek(key)
        if model is not None:
            return model
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            model = self.peek(key)
            if model is None:
                model = await asyncio.to_thread(build)
                self.compiles += 1
                self._models[key] = model
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
        self._locks.pop(key, None)
        return model

    def forget_org(self, org_id: str) -> None:
        for key in [k for k in self._models if k[0] == org_id]:
            del self._models[key]


@dataclass(frozen=True)
class Target:
    """Where one organization's semantic queries run."""

    org_id: str
    store: Any  # DuckDBWarehouse | PostgresWarehouse
    dialect: str
    schemas: dict[str, str] | None  # logical → physical schema (PostgreSQL)


class SemanticRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.models = ModelCache(settings.semantic_model_cache_size)
        self.cache = make_cache(settings.redis_url, int(settings.semantic_cache_max_mb * 2**20))
        self.inflight = Inflight()
        self.refresh_keys = RefreshKeys()
        ttl = max(settings.auth_cache_seconds, 1.0)
        self.keys = TTLCache(ttl)  # kid → KeyInfo
        self.orgs = TTLCache(ttl)  # org_id → OrgSnap
        # Other replicas see a new model version within this long; this one at once.
        self.versions = TTLCache(2.0)  # org_id → current version number
        self.targets = TTLCache(30.0)  # org_id → Target
        self.rollups = TTLCache(5.0)  # org_id → {pre-aggregation path: table}
        self.compiled = TTLCache(2.0, max_items=5000)  # (org, version, query, …, second) → SQL
        self.definitions = TTLCache(3600.0, max_items=5000)  # (org, model, dialect) → tables
        self.background: set[asyncio.Task] = set()

    def forget_org(self, org_id: str) -> None:
        """After a save: the next query of this organization sees the new version."""
        self.versions.drop(org_id)
        self.rollups.drop(org_id)
        self.targets.drop(org_id)

    def spawn(self, coro: Awaitable) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def aclose(self) -> None:
        await self.cache.aclose()


def runtime_of(app) -> SemanticRuntime:
    rt = getattr(app.state, "semantic", None)
    if rt is None:
        rt = app.state.semantic = SemanticRuntime(app.state.settings)
    return rt
