"""``AsyncTenantry``: ``Tenantry`` for asyncio, on ``httpx.AsyncClient``. The same methods,
awaited; the same cache (background refreshes are tasks), retries and errors."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

from tenantry.client import _base
from tenantry.client._base import EXECUTE_TIMEOUT, Call, ClientBase, Pages, PromptsBase
from tenantry.client._cache import OUTAGE, Key
from tenantry.client._prompt import Prompt
from tenantry.client._transport import AsyncTransport


class AsyncPromptsAPI(PromptsBase):
    _tn: AsyncTenantry

    def __init__(self, tn: AsyncTenantry, *, cache_ttl: float):
        super().__init__(tn, cache_ttl=cache_ttl)
        self._refreshing: dict[Key, asyncio.Task[None]] = {}

    async def get(
        self,
        prompt_id: str,
        label: str | None = None,
        version: int | None = None,
        *,
        fallback: Any = None,
        cache_ttl: float | None = None,
    ) -> Prompt:
        """As ``Tenantry.prompts.get``: a hit makes no request; an expired copy is returned at
        once and refreshed by a background task (one per prompt); a stale copy is served while
        the server is down, and ``fallback`` when nothing is cached."""
        key, cached, stale = self._lookup(prompt_id, label, version, cache_ttl)
        if stale:
            self._refresh_in_background(key)
        if cached is not None:
            return cached
        try:
            return await self._fetch(key)
        except OUTAGE as exc:
            return self._cache.when_down(key, exc, fallback)

    async def _fetch(self, key: Key) -> Prompt:
        body = await self._tn._run(_base.fetch_prompt(key))
        return self._cache.store(key, Prompt.from_response(body))

    def _refresh_in_background(self, key: Key) -> None:
        running = self._refreshing.get(key)
        if running is not None and not running.done():
            return  # one refresh at a time per prompt
        task = asyncio.get_running_loop().create_task(
            self._refresh(key), name="tenantry-prompt-refresh"
        )
        self._refreshing[key] = task  # also keeps the task from being garbage-collected
        task.add_done_callback(functools.partial(self._refreshed, key))

    def _refreshed(self, key: Key, task: asyncio.Task[None]) -> None:
        if self._refreshing.get(key) is task:
            del self._refreshing[key]

    async def _refresh(self, key: Key) -> None:
        try:
            await self._fetch(key)
        except Exception as exc:  # never let a background refresh die loudly in the application
            self._cache.refresh_failed(key, exc)

    async def wait_for_refreshes(self, timeout: float = 10.0) -> None:
        """Wait until background refreshes in progress have finished (tests, shutdown)."""
        tasks = list(self._refreshing.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _cancel_refreshes(self) -> None:
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def list(self, *, tag: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """Every prompt (all pages): slug, description, tags, latest_version, labels."""
        return await self._tn._all(_base.list_prompts(tag, q))

    async def render(
        self,
        prompt_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Render on the server (``POST …/render``): ``{"rendered": {"text", "messages"}, …}``."""
        return await self._tn._run(_base.render_prompt(prompt_id, inputs, label, version))

    async def execute(
        self,
        prompt_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        version: int | None = None,
        model: str | dict[str, Any] | None = None,
        stream: bool = False,
        store_inputs: bool | None = None,
        timeout: float = EXECUTE_TIMEOUT,
    ) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """As ``Tenantry.prompts.execute``. With ``stream=True`` it returns an async iterator of
        the events, each as soon as it arrives (``async for event in await ….execute(…,
        stream=True)``); the request is sent when iteration starts, and its errors raised there."""
        call = _base.execute_prompt(
            prompt_id,
            inputs,
            label=label,
            version=version,
            model=model,
            stream=stream,
            store_inputs=store_inputs,
            timeout=timeout,
        )
        return await self._tn._run(call)


class AsyncExecutionsAPI:
    def __init__(self, tn: AsyncTenantry):
        self._tn = tn

    async def list(self, *, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """Executions, newest first; filters: prompt, version, model, status, since, until."""
        return await self._tn._all(_base.list_executions(limit, filters))

    async def get(self, execution_id: str) -> dict[str, Any]:
        return await self._tn._run(_base.get_execution(execution_id))

    async def totals(self, *, by: str = "prompt", **filters: Any) -> dict[str, Any]:
        return await self._tn._run(_base.execution_totals(by, filters))


class AsyncTenantry(ClientBase):
    """``Tenantry`` for asyncio: the same arguments, the same methods awaited.

        async with AsyncTenantry(base_url, api_key, org=None, cache_ttl=60) as tn:
            prompt = await tn.prompts.get("order-summary", fallback="…")
            async for event in await tn.prompts.execute("order-summary", {...}, stream=True):
                ...

    Use it within one event loop; ``aclose()`` (or leaving ``async with``) cancels background
    refreshes and closes the connections. ``await tn.get_org()`` is the organization's slug.
    """

    transport_class = AsyncTransport
    prompts_class = AsyncPromptsAPI
    executions_class = AsyncExecutionsAPI
    lock_class = asyncio.Lock
    _transport: AsyncTransport
    prompts: AsyncPromptsAPI
    executions: AsyncExecutionsAPI

    async def aclose(self) -> None:
        await self.prompts._cancel_refreshes()
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncTenantry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get_org(self) -> str:
        """The organization's slug, as ``Tenantry.org`` (asked once, on first use)."""
        if self._org:
            return self._org
        async with self._org_lock:
            if self._org:
                return self._org
            method, path, params = self._org_query()
            return self._org_found(await self._transport.request(method, path, params=params))

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any organization-scoped route: ``await tn.request("GET", "prompt-parts")``."""
        return await self._run(_base.custom(method, path, kwargs))

    async def _run(self, call: Call) -> Any:
        path = self._scoped(await self.get_org(), call.parts)
        if call.stream:
            return self._transport.events(call.method, path, **call.send_kwargs())
        return await self._transport.request(call.method, path, **call.send_kwargs())

    async def _all(self, pages: Pages) -> list[dict[str, Any]]:
        while pages.more:
            pages.add(await self._run(pages.next_call()))
        return pages.items
