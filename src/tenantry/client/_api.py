"""``Tenantry``: prompts (cached, stale-while-revalidate, with fallbacks) and executions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from tenantry.client import _base
from tenantry.client._base import EXECUTE_TIMEOUT, Call, ClientBase, Pages, PromptsBase
from tenantry.client._cache import OUTAGE, Key
from tenantry.client._prompt import Prompt
from tenantry.client._transport import Transport


class PromptsAPI(PromptsBase):
    _tn: Tenantry

    def __init__(self, tn: Tenantry, *, cache_ttl: float):
        super().__init__(tn, cache_ttl=cache_ttl)
        self._lock = threading.Lock()
        self._refreshing: dict[Key, threading.Thread] = {}

    # --- get, with the cache ------------------------------------------------------------------

    def get(
        self,
        prompt_id: str,
        label: str | None = None,
        version: int | None = None,
        *,
        fallback: Any = None,
        cache_ttl: float | None = None,
    ) -> Prompt:
        """A prompt version by label (default ``production``) or number, with the exact text of
        the parts it pinned (so ``render`` works locally).

        Cached for ``cache_ttl`` seconds (the client's default when None; 0: always ask): a hit
        makes no request. Once expired, the cached copy is returned at once and refreshed in the
        background; while the server is unreachable the stale copy keeps being served.
        ``fallback`` (YAML, a spec dict or a plain template) is returned, with
        ``is_fallback=True``, when nothing is cached and the server is unreachable or failing
        (5xx); refusals (404, 403…) are raised whatever the fallback."""
        key, cached, stale = self._lookup(prompt_id, label, version, cache_ttl)
        if stale:
            self._refresh_in_background(key)
        if cached is not None:
            return cached
        try:
            return self._fetch(key)  # also with ttl 0: a copy to serve while the server is down
        except OUTAGE as exc:
            return self._cache.when_down(key, exc, fallback)

    def _fetch(self, key: Key) -> Prompt:
        return self._cache.store(key, Prompt.from_response(self._tn._run(_base.fetch_prompt(key))))

    def _refresh_in_background(self, key: Key) -> None:
        with self._lock:
            running = self._refreshing.get(key)
            if running is not None and running.is_alive():
                return  # one refresh at a time per prompt
            thread = threading.Thread(
                target=self._refresh, args=(key,), daemon=True, name="tenantry-prompt-refresh"
            )
            self._refreshing[key] = thread
        thread.start()

    def _refresh(self, key: Key) -> None:
        try:
            self._fetch(key)
        except Exception as exc:  # never let a background refresh die loudly in the application
            self._cache.refresh_failed(key, exc)
        finally:
            with self._lock:
                if self._refreshing.get(key) is threading.current_thread():
                    del self._refreshing[key]

    def wait_for_refreshes(self, timeout: float = 10.0) -> None:
        """Block until background refreshes in progress have finished (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._refreshing.values())
            if not threads:
                return
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    # --- the rest of the registry -------------------------------------------------------------

    def list(self, *, tag: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """Every prompt (all pages): slug, description, tags, latest_version, labels."""
        return self._tn._all(_base.list_prompts(tag, q))

    def render(
        self,
        prompt_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Render on the server (``POST …/render``): ``{"rendered": {"text", "messages"}, …}``."""
        return self._tn._run(_base.render_prompt(prompt_id, inputs, label, version))

    def execute(
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
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """Render and call the model. Returns the recorded execution (``output``, tokens,
        ``cost_usd``, ``latency_ms``…); with ``stream=True``, an iterator of events (``{"event":
        "start"|"text"|"tool_call"|"done"|"error", "data": {...}}``). ``model`` is a model name
        or an override dict (provider, model, temperature, max_tokens, top_p, stop). Quota
        refusals raise QuotaExceeded; a call is never resent once the server may have made it."""
        return self._tn._run(
            _base.execute_prompt(
                prompt_id,
                inputs,
                label=label,
                version=version,
                model=model,
                stream=stream,
                store_inputs=store_inputs,
                timeout=timeout,
            )
        )


class ExecutionsAPI:
    def __init__(self, tn: Tenantry):
        self._tn = tn

    def list(self, *, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """Executions, newest first; filters: prompt, version, model, status, since, until."""
        return self._tn._all(_base.list_executions(limit, filters))

    def get(self, execution_id: str) -> dict[str, Any]:
        return self._tn._run(_base.get_execution(execution_id))

    def totals(self, *, by: str = "prompt", **filters: Any) -> dict[str, Any]:
        return self._tn._run(_base.execution_totals(by, filters))


class Tenantry(ClientBase):
    """A client for one organization of a Tenantry server.

    ``Tenantry(base_url, api_key, org=None, cache_ttl=60.0, timeout=10.0, max_retries=3)``.
    ``org`` is the organization's slug. It may be left out: an API key names its organization
    (asked once, on first use), and a user's access token may be used when the user belongs to
    exactly one organization.
    """

    transport_class = Transport
    prompts_class = PromptsAPI
    executions_class = ExecutionsAPI
    lock_class = threading.Lock
    _transport: Transport
    prompts: PromptsAPI
    executions: ExecutionsAPI

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Tenantry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def org(self) -> str:
        """The organization's slug: an API key's own (``GET /api/v1/api-key``), or for a
        user's token the one organization it belongs to."""
        if self._org:
            return self._org
        with self._org_lock:
            if self._org:
                return self._org
            method, path, params = self._org_query()
            return self._org_found(self._transport.request(method, path, params=params))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any organization-scoped route: ``tn.request("GET", "prompt-parts")``."""
        return self._run(_base.custom(method, path, kwargs))

    def _run(self, call: Call) -> Any:
        path = self._scoped(self.org, call.parts)
        send = self._transport.events if call.stream else self._transport.request
        return send(call.method, path, **call.send_kwargs())

    def _all(self, pages: Pages) -> list[dict[str, Any]]:
        while pages.more:
            pages.add(self._run(pages.next_call()))
        return pages.items
