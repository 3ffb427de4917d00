"""What ``Tenantry`` and ``AsyncTenantry`` share, all of it without I/O: the constructor and
organization discovery, the requests each API method makes (``Call``), paging, and the prompt
cache. Each client only sends the calls, one with ``httpx.Client``, one with ``AsyncClient``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from tenantry.client._cache import Key, PromptCache, prompt_key
from tenantry.client._errors import TenantryClientError
from tenantry.client._prompt import Prompt
from tenantry.client._transport import AsyncTransport, Transport, seg

EXECUTE_TIMEOUT = 300.0  # a provider may think for a while; the server bounds each call itself
PAGE_SIZE = 200


@dataclass(frozen=True)
class Call:
    """One request of the API, relative to the organization (``/api/v1/orgs/{org}/…``)."""

    method: str
    parts: tuple[str, ...]
    params: dict[str, Any] | None = None
    json_body: Any = None
    idempotent: bool = True
    timeout: float | None = None
    stream: bool = False  # server-sent events

    def send_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Transport.events`` (stream) or ``Transport.request``."""
        if self.stream:
            return {"json_body": self.json_body, "timeout": self.timeout}
        return {
            "params": self.params,
            "json_body": self.json_body,
            "idempotent": self.idempotent,
            "timeout": self.timeout,
        }


class Pages:
    """A listing read page by page (``items``, ``total``) until all, or ``limit``, are read:
    ``while pages.more: pages.add(send(pages.next_call()))``, then ``pages.items``."""

    def __init__(self, parts: tuple[str, ...], params: dict[str, Any], limit: int | None = None):
        self.parts, self.params, self.limit = parts, params, limit
        self.size = min(PAGE_SIZE, limit) if limit else PAGE_SIZE
        self.page = 1
        self.items: list[dict[str, Any]] = []
        self.more = True

    def next_call(self) -> Call:
        return Call("GET", self.parts, params={**self.params, "page": self.page, "size": self.size})

    def add(self, body: dict[str, Any]) -> None:
        items = body.get("items") or []
        self.items += items
        self.page += 1
        full = bool(self.limit) and len(self.items) >= (self.limit or 0)
        if not items or len(self.items) >= (body.get("total") or 0) or full:
            self.more = False
            if self.limit:
                self.items = self.items[: self.limit]


# --- the requests behind each method ---------------------------------------------------------


def fetch_prompt(key: Key) -> Call:
    prompt_id, label, version = key
    return Call("GET", ("prompts", seg(prompt_id)), params={"label": label, "version": version})


def list_prompts(tag: str | None, q: str | None) -> Pages:
    return Pages(("prompts",), {"tag": tag, "q": q})


def render_prompt(
    prompt_id: str, inputs: dict[str, Any] | None, label: str | None, version: int | None
) -> Call:
    body = {"inputs": inputs or {}, "label": label, "version": version}
    return Call("POST", ("prompts", seg(prompt_id), "render"), json_body=body)


def execute_prompt(
    prompt_id: str,
    inputs: dict[str, Any] | None,
    *,
    label: str | None,
    version: int | None,
    model: str | dict[str, Any] | None,
    stream: bool,
    store_inputs: bool | None,
    timeout: float,
) -> Call:
    """Never resent once the server may have called the model (``idempotent=False``)."""
    body = {
        "inputs": inputs or {},
        "label": label,
        "version": version,
        "model": {"model": model} if isinstance(model, str) else model,
        "stream": stream,
        "store_inputs": store_inputs,
    }
    parts = ("prompts", seg(prompt_id), "execute")
    return Call("POST", parts, json_body=body, idempotent=False, timeout=timeout, stream=stream)


def list_executions(limit: int, filters: dict[str, Any]) -> Pages:
    return Pages(("prompt-executions",), filters, limit=limit)


def get_execution(execution_id: str) -> Call:
    return Call("GET", ("prompt-executions", seg(execution_id)))


def execution_totals(by: str, filters: dict[str, Any]) -> Call:
    return Call("GET", ("prompt-executions", "totals"), params={"by": by, **filters})


def custom(method: str, path: str, kwargs: dict[str, Any]) -> Call:
    """``tn.request(method, path, params=…, json_body=…, idempotent=…, timeout=…)``."""
    return Call(method, (path.lstrip("/"),), **kwargs)


# --- the clients' shared halves --------------------------------------------------------------


class ClientBase:
    """The constructor, repr and organization discovery of both clients."""

    transport_class: ClassVar[type[Transport] | type[AsyncTransport]]
    prompts_class: ClassVar[type]
    executions_class: ClassVar[type]
    lock_class: ClassVar[type]

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
        self._transport = self.transport_class(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
        )
        self._org = org
        self._is_key = api_key.startswith("tny_")
        self._org_lock = self.lock_class()
        self.prompts = self.prompts_class(self, cache_ttl=cache_ttl)
        self.executions = self.executions_class(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport.shown_url!r}, org={self._org!r})"

    def _org_query(self) -> tuple[str, str, dict[str, Any] | None]:
        """Where to learn the organization: an API key's own (``GET /api/v1/api-key``), or the
        organizations a user's token belongs to (which must be exactly one)."""
        if self._is_key:
            return "GET", "/api/v1/api-key", None
        return "GET", "/api/v1/orgs", {"size": 2}

    def _org_found(self, body: dict[str, Any]) -> str:
        if self._is_key:
            self._org = body["org"]
            return self._org
        items = body.get("items") or []
        if len(items) != 1:
            names = ", ".join(i["slug"] for i in items) or "none"
            raise TenantryClientError(
                f"org is required: this token can reach {len(items)} organization(s) "
                f"({names}); pass org='<slug>'."
            )
        self._org = items[0]["slug"]
        return self._org

    @staticmethod
    def _scoped(org: str, parts: tuple[str, ...]) -> str:
        return f"/api/v1/orgs/{seg(org)}/" + "/".join(parts)


class PromptsBase:
    """The cache half of ``prompts``: the client's default ``cache_ttl`` and the entries."""

    def __init__(self, tn: Any, *, cache_ttl: float):
        self._tn = tn
        self.cache_ttl = cache_ttl
        self._cache = PromptCache()

    def _lookup(
        self, prompt_id: str, label: str | None, version: int | None, cache_ttl: float | None
    ) -> tuple[Key, Prompt | None, bool]:
        """``(key, cached prompt to answer with or None, stale)`` (see ``PromptCache.lookup``)."""
        key = prompt_key(prompt_id, label, version)
        ttl = self.cache_ttl if cache_ttl is None else cache_ttl
        return (key, *self._cache.lookup(key, ttl))

    def invalidate(self, prompt_id: str | None = None) -> None:
        """Forget cached copies (of one prompt, or all)."""
        self._cache.invalidate(prompt_id)
