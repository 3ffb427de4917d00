"""``Tenantry``: prompts (cached, stale-while-revalidate, with fallbacks) and executions."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tenantry.client._errors import (
    ConnectionFailed,
    NotFound,
    ServerError,
    TenantryClientError,
)
from tenantry.client._prompt import Prompt, fallback_prompt
from tenantry.client._transport import Transport, seg

log = logging.getLogger("tenantry.client")

DEFAULT_LABEL = "production"
CACHE_MAX_ENTRIES = 1024
EXECUTE_TIMEOUT = 300.0  # a provider may think for a while; the server bounds each call itself
_OUTAGE = (ConnectionFailed, ServerError)  # what a fallback or a stale copy stands in for


@dataclass
class _Entry:
    prompt: Prompt
    fetched_at: float


class Tenantry:
    """A client for one organization of a Tenantry server.

    ``Tenantry(base_url, api_key, org=None, cache_ttl=60.0, timeout=10.0, max_retries=3)``.
    ``org`` is the organization's slug. It may be left out: an API key names its organization
    (asked once, on first use), and a user's access token may be used when the user belongs to
    exactly one organization.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        org: str | None = None,
        *,
        cache_ttl: float = 60.0,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        max_retry_wait: float = 30.0,
    ):
        if not api_key:
            raise TenantryClientError("api_key is required (an API key, tny_…, or access token)")
        self._transport = Transport(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
        )
        self._org = org
        self._is_key = api_key.startswith("tny_")
        self._org_lock = threading.Lock()
        self.prompts = PromptsAPI(self, cache_ttl=cache_ttl)
        self.executions = ExecutionsAPI(self)

    def __repr__(self) -> str:
        return f"Tenantry({self._transport.shown_url!r}, org={self._org!r})"

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
            if not self._org and self._is_key:
                self._org = self._transport.request("GET", "/api/v1/api-key")["org"]
            if not self._org:
                body = self._transport.request("GET", "/api/v1/orgs", params={"size": 2})
                items = body.get("items") or []
                if len(items) != 1:
                    names = ", ".join(i["slug"] for i in items) or "none"
                    raise TenantryClientError(
                        f"org is required: this token can reach {len(items)} organization(s) "
                        f"({names}); pass org='<slug>'."
                    )
                self._org = items[0]["slug"]
        return self._org

    def _path(self, *parts: str) -> str:
        return f"/api/v1/orgs/{seg(self.org)}/" + "/".join(parts)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any organization-scoped route: ``tn.request("GET", "prompt-parts")``."""
        return self._transport.request(method, self._path(path.lstrip("/")), **kwargs)


class PromptsAPI:
    def __init__(self, tn: Tenantry, *, cache_ttl: float):
        self._tn = tn
        self.cache_ttl = cache_ttl
        self._cache: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: dict[tuple, threading.Thread] = {}

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
        if label is not None and version is not None:
            raise ValueError("give either a label or a version, not both")
        key = (prompt_id, label or (None if version is not None else DEFAULT_LABEL), version)
        ttl = self.cache_ttl if cache_ttl is None else cache_ttl
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                self._cache.move_to_end(key)
        if entry is not None and ttl > 0:
            if time.monotonic() - entry.fetched_at < ttl:
                return entry.prompt
            self._refresh_in_background(key)
            return entry.prompt
        try:
            prompt = self._fetch(key)
        except _OUTAGE as exc:
            if entry is not None:
                log.warning("serving a stale copy of prompt %r: %s", prompt_id, exc.message)
                return entry.prompt
            if fallback is not None:
                log.warning("serving the fallback of prompt %r: %s", prompt_id, exc.message)
                return fallback_prompt(prompt_id, fallback, key[1])
            raise type(exc)(
                f"Could not fetch prompt '{prompt_id}' and nothing is cached: {exc.message} "
                "Pass fallback=… to get(), to keep working while the server is unreachable.",
                status=exc.status,
                detail=exc.detail,
                problem=exc.problem,
            ) from None
        self._store(key, prompt)  # also with ttl 0: a copy to serve while the server is down
        return prompt

    def _fetch(self, key: tuple) -> Prompt:
        prompt_id, label, version = key
        body = self._tn._transport.request(
            "GET",
            self._tn._path("prompts", seg(prompt_id)),
            params={"label": label, "version": version},
        )
        return Prompt.from_response(body)

    def _store(self, key: tuple, prompt: Prompt) -> None:
        with self._lock:
            self._cache[key] = _Entry(prompt, time.monotonic())
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_MAX_ENTRIES:
                self._cache.popitem(last=False)

    def _refresh_in_background(self, key: tuple) -> None:
        with self._lock:
            running = self._refreshing.get(key)
            if running is not None and running.is_alive():
                return  # one refresh at a time per prompt
            thread = threading.Thread(
                target=self._refresh, args=(key,), daemon=True, name="tenantry-prompt-refresh"
            )
            self._refreshing[key] = thread
        thread.start()

    def _refresh(self, key: tuple) -> None:
        try:
            self._store(key, self._fetch(key))
        except NotFound as exc:  # deleted, or the label was removed: stop serving it
            log.warning("prompt %r is gone (%s); dropped from the cache", key[0], exc.detail)
            with self._lock:
                self._cache.pop(key, None)
        except TenantryClientError as exc:
            log.warning("could not refresh prompt %r, serving the cached copy: %s", key[0], exc)
        except Exception:  # never let a background refresh die loudly in the application
            log.exception("refreshing prompt %r failed", key[0])
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

    def invalidate(self, prompt_id: str | None = None) -> None:
        """Forget cached copies (of one prompt, or all)."""
        with self._lock:
            for key in [k for k in self._cache if prompt_id is None or k[0] == prompt_id]:
                del self._cache[key]

    # --- the rest of the registry -------------------------------------------------------------

    def list(self, *, tag: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """Every prompt (all pages): slug, description, tags, latest_version, labels."""
        return _all_pages(self._tn, "prompts", {"tag": tag, "q": q})

    def render(
        self,
        prompt_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        label: str | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Render on the server (``POST …/render``): ``{"rendered": {"text", "messages"}, …}``."""
        return self._tn._transport.request(
            "POST",
            self._tn._path("prompts", seg(prompt_id), "render"),
            json_body={"inputs": inputs or {}, "label": label, "version": version},
        )

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
        override = {"model": model} if isinstance(model, str) else model
        body = {
            "inputs": inputs or {},
            "label": label,
            "version": version,
            "model": override,
            "stream": stream,
            "store_inputs": store_inputs,
        }
        path = self._tn._path("prompts", seg(prompt_id), "execute")
        if stream:
            return self._tn._transport.events("POST", path, json_body=body, timeout=timeout)
        return self._tn._transport.request(
            "POST", path, json_body=body, idempotent=False, timeout=timeout
        )


class ExecutionsAPI:
    def __init__(self, tn: Tenantry):
        self._tn = tn

    def list(self, *, limit: int = 50, **filters: Any) -> list[dict[str, Any]]:
        """Executions, newest first; filters: prompt, version, model, status, since, until."""
        return _all_pages(self._tn, "prompt-executions", filters, limit=limit)

    def get(self, execution_id: str) -> dict[str, Any]:
        return self._tn._transport.request(
            "GET", self._tn._path("prompt-executions", seg(execution_id))
        )

    def totals(self, *, by: str = "prompt", **filters: Any) -> dict[str, Any]:
        return self._tn._transport.request(
            "GET", self._tn._path("prompt-executions", "totals"), params={"by": by, **filters}
        )


def _all_pages(
    tn: Tenantry, path: str, params: dict[str, Any], *, limit: int | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    size = min(200, limit) if limit else 200
    while True:
        body = tn._transport.request(
            "GET", tn._path(path), params={**params, "page": page, "size": size}
        )
        items = body.get("items") or []
        out += items
        if not items or len(out) >= (body.get("total") or 0) or (limit and len(out) >= limit):
            return out[:limit] if limit else out
        page += 1
