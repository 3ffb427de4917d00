"""One exception taxonomy. Each error knows its HTTP status and whether retrying can help.

``terminal`` errors will fail the same way again (bad input, missing object); ``transient`` ones
may succeed later (a database that is restarting, a rate limit). Run retries key off that.
"""

from __future__ import annotations

from typing import Any


class TenantryError(Exception):
    status: int = 500
    title: str = "Internal error"
    code: str = "internal"
    transient: bool = False

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    @property
    def terminal(self) -> bool:
        return not self.transient

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://tenantry.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ValidationFailed(TenantryError):
    status, title, code = 422, "Invalid input", "validation"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[{"field": field, "message": message}])

    @classmethod
    def nested(cls, exc, prefix: str) -> ValidationFailed:
        """A pydantic ValidationError of the object under ``prefix`` (e.g. a ``spec``), every
        error naming its field. Whole-object checks name their field first ("field: …")."""
        errors = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            message = e["msg"].removeprefix("Value error, ")
            if not loc and ": " in message:
                loc, message = message.split(": ", 1)
            errors.append({"field": f"{prefix}.{loc}" if loc else prefix, "message": message})
        return cls("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


class BadRequest(TenantryError):
    status, title, code = 400, "Bad request", "bad-request"


class Unauthenticated(TenantryError):
    status, title, code = 401, "Not authenticated", "unauthenticated"


class PermissionDenied(TenantryError):
    status, title, code = 403, "Permission denied", "forbidden"


class NotFound(TenantryError):
    status, title, code = 404, "Not found", "not-found"


class Conflict(TenantryError):
    status, title, code = 409, "Conflict", "conflict"


class RateLimited(TenantryError):
    status, title, code, transient = 429, "Too many requests", "rate-limited", True

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class Unavailable(TenantryError):
    status, title, code, transient = 503, "Service unavailable", "unavailable", True


class ConfigurationError(TenantryError):
    """The operator's setup is wrong; raised at start-up with the command that fixes it."""

    status, title, code = 500, "Configuration error", "configuration"
