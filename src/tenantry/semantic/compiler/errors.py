"""The compiler's two errors: a query the caller got wrong (400) and one it may not run (403)."""

from __future__ import annotations

from tenantry.core.errors import BadRequest, PermissionDenied


class QueryError(BadRequest):
    """The query is malformed or names something that does not exist; the message says what."""

    def __init__(self, detail: str, *, field: str | None = None):
        errors = [{"field": field, "message": detail}] if field else None
        super().__init__(detail, errors=errors)
        self.field = field


class AccessDenied(PermissionDenied):
    """An access policy does not let the caller run this query."""
