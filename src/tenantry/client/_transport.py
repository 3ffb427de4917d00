"""HTTP for the client: one keep-alive ``httpx.Client`` (or ``httpx.AsyncClient``), retries of
transient failures with exponential backoff (honouring ``Retry-After``), problem documents turned
into exceptions, and server-sent events parsed into dicts. The API key is sent as a header and
never put into an error, a log line or a repr.

Everything but the I/O lives in ``_BaseTransport`` (the retry policy, error mapping, key
scrubbing, building requests) and ``SSEParser``, shared by the sync and the async transport."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from tenantry.client._errors import ConnectionFailed, QuotaExceeded, error_for

log = logging.getLogger("tenantry.client")

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# Statuses at which a non-idempotent request (execute) surely did nothing, so it may be resent.
REFUSED_STATUSES = frozenset({429, 503})
USER_AGENT = "tenantry-python-client"


def seg(value: str) -> str:
    """One URL path segment (a slug, an id), escaped."""
    return quote(str(value), safe="")


def public_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts).rstrip("/")


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _BaseTransport:
    """Configuration, the retry policy and error mapping; subclasses add the client and I/O."""

    client_class: type[httpx.Client] | type[httpx.AsyncClient]

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        max_retries: int,
        retry_backoff: float = 0.5,
        max_retry_wait: float = 30.0,
    ):
        if not base_url or not urlsplit(base_url).scheme:
            raise ValueError("base_url must be the server's URL, e.g. http://127.0.0.1:8000")
        self.base_url = base_url.rstrip("/")
        self.shown_url = public_url(self.base_url)
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = retry_backoff
        self.max_retry_wait = max_retry_wait
        self._secret = api_key or ""
        self._client = self.client_class(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown_url!r})"

    def scrub(self, text: str) -> str:
        return text.replace(self._secret, "********") if self._secret else text

    # --- building requests and reading answers ----------------------------------------------

    def _build(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
        sse: bool = False,
    ) -> httpx.Request:
        return self._client.build_request(
            method,
            path,
            params={k: v for k, v in (params or {}).items() if v is not None},
            json=json_body,
            headers={"Accept": "text/event-stream"} if sse else None,
            timeout=timeout if timeout is not None else self.timeout,
        )

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # --- the retry policy: how long to wait before the next attempt, or the error to raise ---

    def _backoff(self, attempt: int) -> float:
        delay = min(self.max_retry_wait, self.retry_backoff * (2**attempt))
        return delay + random.uniform(0, delay * 0.1)

    def _wait_after_failure(
        self, exc: httpx.TransportError, request: httpx.Request, attempt: int, idempotent: bool
    ) -> float:
        """The server was not reached or did not answer. Raises ConnectionFailed to give up."""
        # A refused connection never reached the server: safe to resend anything.
        safe = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        if safe and attempt < self.max_retries:
            wait = self._backoff(attempt)
            log.info(
                "%s %s failed (%s); retry in %.2fs",
                request.method,
                request.url.path,
                type(exc).__name__,
                wait,
            )
            return wait
        raise self._unreachable(exc, request.method, request.url.path, attempt + 1) from None

    def _wait_after_refusal(
        self, response: httpx.Response, attempt: int, idempotent: bool
    ) -> float:
        """The server answered 4xx/5xx (its body read). Raises the matching error to give up."""
        method, path = response.request.method, response.request.url.path
        if self._retriable(response, idempotent) and attempt < self.max_retries:
            hinted = retry_after_seconds(response.headers.get("retry-after"))
            wait = hinted if hinted is not None else self._backoff(attempt)
            if wait <= self.max_retry_wait:
                log.info(
                    "%s %s answered %s; retry in %.2fs", method, path, response.status_code, wait
                )
                return wait
        raise self._error(response, method, path)

    def _retriable(self, response: httpx.Response, idempotent: bool) -> bool:
        status = response.status_code
        if status not in TRANSIENT_STATUSES:
            return False
        if status == 429 and b"quota-exceeded" in response.content:
            return False  # a monthly quota: waiting seconds will not help
        return idempotent or status in REFUSED_STATUSES

    def _unreachable(self, exc: httpx.TransportError, method: str, path: str, tries: int):
        what = type(exc).__name__
        reason = self.scrub(str(exc)) or what
        return ConnectionFailed(
            f"Cannot reach Tenantry at {self.shown_url} ({what}: {reason}) for {method} {path}, "
            f"after {tries} attempt(s). Check the URL and that the server is running.",
            detail=reason,
        )

    def _error(self, response: httpx.Response, method: str, path: str):
        try:
            problem = response.json()
            if not isinstance(problem, dict):
                problem = {"detail": str(problem)}
        except ValueError:
            problem = {"detail": response.text[:500] or response.reason_phrase}
        detail = self.scrub(str(problem.get("detail") or response.reason_phrase))
        problem["detail"] = detail
        status = response.status_code
        quota = status == 429 and str(problem.get("type", "")).endswith("quota-exceeded")
        cls = QuotaExceeded if quota else error_for(status)
        return cls(
            f"{detail} (HTTP {status} from {method} {path})",
            status=status,
            detail=detail,
            problem=problem,
        )


class Transport(_BaseTransport):
    client_class = httpx.Client
    _client: httpx.Client

    def close(self) -> None:
        self._client.close()

    def _send(self, request: httpx.Request, *, idempotent: bool, stream: bool) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                wait = self._wait_after_failure(exc, request, attempt, idempotent)
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                    response.close()
                wait = self._wait_after_refusal(response, attempt, idempotent)
            time.sleep(wait)
            attempt += 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        timeout: float | None = None,
    ) -> Any:
        request = self._build(method, path, params=params, json_body=json_body, timeout=timeout)
        return self._decode(self._send(request, idempotent=idempotent, stream=False))

    def events(
        self, method: str, path: str, *, json_body: Any = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Server-sent events as ``{"event": name, "data": parsed JSON}``. Retries happen only
        before the stream starts."""
        request = self._build(method, path, json_body=json_body, timeout=timeout, sse=True)
        response = self._send(request, idempotent=False, stream=True)
        try:
            yield from parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unreachable(exc, method, request.url.path, 1) from None
        finally:
            response.close()


class AsyncTransport(_BaseTransport):
    client_class = httpx.AsyncClient
    _client: httpx.AsyncClient

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(
        self, request: httpx.Request, *, idempotent: bool, stream: bool
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                wait = self._wait_after_failure(exc, request, attempt, idempotent)
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    await response.aread()
                    await response.aclose()
                wait = self._wait_after_refusal(response, attempt, idempotent)
            await asyncio.sleep(wait)
            attempt += 1

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        timeout: float | None = None,
    ) -> Any:
        request = self._build(method, path, params=params, json_body=json_body, timeout=timeout)
        return self._decode(await self._send(request, idempotent=idempotent, stream=False))

    async def events(
        self, method: str, path: str, *, json_body: Any = None, timeout: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """As ``Transport.events``: each event is yielded as soon as its blank line arrives."""
        request = self._build(method, path, json_body=json_body, timeout=timeout, sse=True)
        response = await self._send(request, idempotent=False, stream=True)
        parser = SSEParser()
        try:
            async for line in response.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event
            if (event := parser.end()) is not None:
                yield event
        except httpx.TransportError as exc:
            raise self._unreachable(exc, method, request.url.path, 1) from None
        finally:
            await response.aclose()


class SSEParser:
    """Server-sent events, one line at a time: ``feed`` returns an event when a blank line ends
    one (``{"event": name, "data": parsed JSON or the text}``), ``end`` the unterminated last."""

    def __init__(self) -> None:
        self._event, self._data = "message", []

    def feed(self, line: str) -> dict[str, Any] | None:
        if not line:
            return self.end()
        if not line.startswith(":"):  # a comment otherwise
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                self._event = value
            elif name == "data":
                self._data.append(value)
        return None

    def end(self) -> dict[str, Any] | None:
        event, data = self._event, self._data
        self._event, self._data = "message", []
        if not data:
            return None
        text = "\n".join(data)
        try:
            return {"event": event, "data": json.loads(text)}
        except ValueError:
            return {"event": event, "data": text}


def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    parser = SSEParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event
    if (event := parser.end()) is not None:
        yield event
