"""Shared HTTP plumbing for the provider adapters: one pooled client, retries, error wording.

Every adapter sends through ``Transport.send_with_retries`` so the retry policy, ``Retry-After``
handling and the wording of errors (provider named, key never shown) live in one place.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tenantry.core.errors import ValidationFailed
from tenantry.llm.errors import ProviderError, ProviderTimeout
from tenantry.llm.types import ChatRequest, ProviderConfig

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})  # 529: Anthropic "overloaded"
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 60.0  # longer waits fail fast: holding a request open for minutes helps nobody

Sleep = Callable[[float], Awaitable[Any]]


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_message(body: bytes | str) -> str:
    """The provider's own words from the usual error shapes, else the start of the body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):  # Ollama: {"error": "model not found"}
            return err[:500]
        if isinstance(err, dict):
            for key in ("message", "detail"):
                if isinstance(err.get(key), str):
                    return err[key][:500]
        for key in ("message", "detail"):  # vLLM: {"object": "error", "message": ...}
            if isinstance(data.get(key), str):
                return data[key][:500]
    return " ".join(text.split())[:300]


def _origin(url: str) -> str:
    # Scheme, host and port only: a base URL may carry credentials or a key in its query.
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class Transport:
    """One ``httpx.AsyncClient`` per adapter object, with the retry policy around it."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        max_retry_after: float = MAX_RETRY_AFTER,
    ):
        self.config = config
        self.sleep = sleep if sleep is not None else asyncio.sleep
        self.max_retry_after = max_retry_after
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds), transport=transport
        )

    @property
    def who(self) -> str:
        return f'LLM provider "{self.config.name}" ({self.config.kind})'

    def scrub(self, text: str) -> str:
        """Remove the key (and custom header values) from text that may reach a user."""
        key = self.config.api_key
        if key:  # as sent, and as it would appear echoed inside a URL
            text = text.replace(key, "[redacted]").replace(quote(key, safe=""), "[redacted]")
        for value in self.config.headers.values():
            if len(value) >= 8:
                text = text.replace(value, "[redacted]")
        return re.sub(r"(?i)\b(bearer\s+)\S+", r"\1[redacted]", text)

    def error(self, detail: str, **kw: Any) -> ProviderError:
        return ProviderError(self.scrub(detail), provider=self.config.name, **kw)

    def timeout_error(self) -> ProviderTimeout:
        detail = f"{self.who} did not answer within {self.config.timeout_seconds:g} seconds."
        return ProviderTimeout(self.scrub(detail), provider=self.config.name, transient=True)

    def status_error(
        self, status: int, body: bytes, model: str | None, retry_after: float | None
    ) -> ProviderError:
        said = self.scrub(error_message(body)).strip().rstrip(".") or "no details given"
        kw: dict[str, Any] = {"status_code": status, "retry_after": retry_after}
        if status in (401, 403):
            return self.error(
                f"{self.who} refused the API key (HTTP {status}: {said}). "
                "Update the key in the provider settings.",
                **kw,
            )
        if status == 404:
            where = f' for model "{model}"' if model else ""
            fix = "Check the model name and the base URL." if model else "Check the base URL."
            return self.error(f"{self.who} answered HTTP 404{where}: {said}. {fix}", **kw)
        if status == 429:
            return self.error(
                f"{self.who} is rate limiting requests (HTTP 429: {said}).", transient=True, **kw
            )
        if status in RETRY_STATUSES:
            return self.error(
                f"{self.who} is unavailable (HTTP {status}: {said}).", transient=True, **kw
            )
        return self.error(f"{self.who} rejected the request (HTTP {status}: {said}).", **kw)

    def backoff(self, attempt: int) -> float:
        # Exponential with jitter so many clients hitting one rate limit do not retry in step.
        return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2)

    async def send_with_retries(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        stream: bool = False,
        model: str | None = None,
    ) -> httpx.Response:
        """Send, retrying transient failures; return a successful response.

        With ``stream=True`` the body is left unread (the caller iterates and closes it): retries
        happen only until the status line arrives, never once the body has started."""
        try:
            request = self.client.build_request(
                method,
                url,
                json=json,
                headers={**self.config.headers, **(headers or {})},
                params=params,
            )
        except httpx.InvalidURL as exc:
            raise self.error(f"{self.who} has an invalid base URL: {exc}.") from None
        attempt = 0
        while True:
            try:
                response = await self.client.send(request, stream=stream)
            except httpx.TimeoutException:
                error: ProviderError = self.timeout_error()
            except httpx.UnsupportedProtocol:
                raise self.error(
                    f"{self.who} has a base URL that does not start with http:// or https:// "
                    f"({self.config.base_url[:200]!r}). Fix it in the provider settings."
                ) from None
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                error = self.error(
                    f"{self.who} could not be reached at {_origin(url)} ({reason}).",
                    transient=True,
                )
            else:
                if response.status_code < 400:
                    return response
                body = await response.aread()
                await response.aclose()
                error = self.status_error(
                    response.status_code, body, model, parse_retry_after(response.headers)
                )
            if not error.transient:
                raise error
            if attempt >= self.config.max_retries:
                raise (
                    _with_suffix(error, f" Gave up after {attempt + 1} attempts.")
                    if attempt
                    else error
                )
            wait = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            if wait > self.max_retry_after:
                raise _with_suffix(
                    error, f" It asked to retry after {wait:.0f} seconds: try again later."
                )
            await self.sleep(wait)
            attempt += 1

    async def iter_sse(self, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
        """(event, data) pairs of a server-sent-events body; failures become provider errors."""
        event, data = "", []
        try:
            async for line in response.aiter_lines():
                if not line:
                    if data:
                        yield event or "message", "\n".join(data)
                    event, data = "", []
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if data:
                yield event or "message", "\n".join(data)
        except httpx.TimeoutException:
            raise self.timeout_error() from None
        except httpx.TransportError as exc:
            raise self.error(
                f"{self.who} dropped the connection mid-stream ({type(exc).__name__}).",
                transient=True,
            ) from None

    def load_json(self, text: str | bytes) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            raise self.error(
                f"{self.who} answered with something that is not JSON: {raw[:200]!r}."
            ) from None


def _with_suffix(error: ProviderError, suffix: str) -> ProviderError:
    cls = type(error)
    return cls(
        error.detail + suffix,
        provider=error.provider,
        status_code=error.status_code,
        transient=error.transient,
        retry_after=error.retry_after,
    )


class BaseClient:
    """What every adapter shares: config, the transport, model choice, closing."""

    default_base = ""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
    ):
        self.config = config
        self._http = Transport(config, transport=transport, sleep=sleep)

    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base).rstrip("/")

    def model_of(self, request: ChatRequest) -> str:
        model = request.model or self.config.default_model
        if not model:
            raise ValidationFailed.field(
                "model", "no model was given and the provider has no default model; set one"
            )
        return model

    def parse_arguments(self, name: str, raw: Any) -> dict[str, Any]:
        """Tool-call arguments as a dict; anything but a JSON object is the provider's fault."""
        if isinstance(raw, dict):
            return raw
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return {}
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise self._http.error(
                f'{self._http.who} returned arguments for tool "{name}" that are not a JSON '
                f"object: {str(raw)[:200]!r}."
            )
        return value

    async def aclose(self) -> None:
        await self._http.client.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
