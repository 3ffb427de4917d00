"""The client's errors: one base class carrying the server's problem ``detail``."""

from __future__ import annotations

from typing import Any


class TenantryClientError(Exception):
    """A request the server refused or could not answer. ``status`` is the HTTP status (None
    when the server was not reached), ``detail`` the server's explanation, ``problem`` the whole
    problem document (``type``, ``title``, ``status``, ``detail``, ``errors``…)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        problem: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail if detail is not None else message
        self.problem = problem or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])

    def __str__(self) -> str:
        return self.message


class Unauthenticated(TenantryClientError):
    """401: the API key is wrong, expired or revoked."""


class PermissionDenied(TenantryClientError):
    """403: the key lacks a scope (e.g. prompts:read for get, prompts:execute for execute)."""


class NotFound(TenantryClientError):
    """404: no such prompt, version, label or organization (or not this key's)."""


class Conflict(TenantryClientError):
    """409."""


class ValidationError(TenantryClientError):
    """400/422: bad inputs (each problem in ``errors``, naming its field)."""


class QuotaExceeded(TenantryClientError):
    """429 from a quota: this month's token or spend limit; ``retry_after`` says when it
    resets. Not retried."""

    @property
    def retry_after(self) -> int | None:
        value = self.problem.get("retry_after")
        return int(value) if value is not None else None


class ServerError(TenantryClientError):
    """5xx after the retries (or a 500, which is not retried)."""


class ConnectionFailed(TenantryClientError):
    """The server could not be reached (refused, timed out, DNS) after the retries."""


def error_for(status: int) -> type[TenantryClientError]:
    if status == 401:
        return Unauthenticated
    if status == 403:
        return PermissionDenied
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status in (400, 422):
        return ValidationError
    if status >= 500:
        return ServerError
    return TenantryClientError
