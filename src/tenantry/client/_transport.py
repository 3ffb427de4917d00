"""HTTP for the client: one keep-alive ``httpx.Client``, retries of transient failures with
exponential backoff (honouring ``Retry-After``), problem documents turned into exceptions, and
server-sent events parsed into dicts. The API key is sent as a header and never put into an
error, a log line or a repr."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Iterator
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


class Transport:
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
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"Transport({self.shown_url!r})"

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._secret, "********") if self._secret else text

    # --- retries ------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        delay = min(self.max_retry_wait, self.retry_backoff * (2**attempt))
        return delay + random.uniform(0, delay * 0.1)

    def _wait_for(self, response: httpx.Response, attempt: int) -> float:
        hinted = retry_after_seconds(response.headers.get("retry-after"))
        return hinted if hinted is not None else self._backoff(attempt)

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

    def _send(self, request: httpx.Request, *, idempotent: bool, stream: bool) -> httpx.Response:
        method, path = request.method, request.url.path
        attempt = 0
        while True:
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                # A refused connection never reached the server: safe to resend anything.
                safe = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if safe and attempt < self.max_retries:
                    wait = self._backoff(attempt)
                    log.info("%s %s failed (%s); retry in %.2fs", method, path, type(exc), wait)
                    time.sleep(wait)
                    attempt += 1
                    continue
                raise self._unreachable(exc, method, path, attempt + 1) from None
            if response.status_code < 400:
                return response
            if stream:
                response.read()
                response.close()
            if self._retriable(response, idempotent) and attempt < self.max_retries:
                wait = self._wait_for(response, attempt)
                if wait <= self.max_retry_wait:
                    log.info(
                        "%s %s answered %s; retry in %.2fs",
                        method,
                        path,
                        response.status_code,
                        wait,
                    )
                    time.sleep(wait)
                    attempt += 1
                    continue
            raise self._error(response, method, path)

    def _retriable(self, response: httpx.Response, idempotent: bool) -> bool:
        status = response.status_code
        if status not in TRANSIENT_STATUSES:
            return False
        if status == 429 and b"quota-exceeded" in response.content:
            return False  # a monthly quota: waiting seconds will not help
        return idempotent or status in REFUSED_STATUSES

    # --- requests -----------------------------------------------------------------------------

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
        params = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._client.build_request(
            method,
            path,
            params=params,
            json=json_body,
            timeout=timeout if timeout is not None else self.timeout,
        )
        response = self._send(request, idempotent=idempotent, stream=False)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def events(
        self, method: str, path: str, *, json_body: Any = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Server-sent events as ``{"event": name, "data": parsed JSON}``. Retries happen only
        before the stream starts."""
        request = self._client.build_request(
            method,
            path,
            json=json_body,
            headers={"Accept": "text/event-stream"},
            timeout=timeout if timeout is not None else self.timeout,
        )
        response = self._send(request, idempotent=False, stream=True)
        try:
            yield from parse_sse(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unreachable(exc, method, request.url.path, 1) from None
        finally:
            response.close()


def parse_sse(lines) -> Iterator[dict[str, Any]]:
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield _event(event, data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield _event(event, data)


def _event(event: str, data: list[str]) -> dict[str, Any]:
    text = "\n".join(data)
    try:
        return {"event": event, "data": json.loads(text)}
    except ValueError:
        return {"event": event, "data": text}
