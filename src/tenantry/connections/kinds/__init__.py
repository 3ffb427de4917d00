"""The registry of connection kinds: one module each."""

from __future__ import annotations

from tenantry.connections.kinds import cloud, duckdb, files, mysql, postgres, rest_api, sqlite
from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.core.errors import ValidationFailed

KINDS: dict[str, Kind] = {
    k.KIND.name: k.KIND for k in (postgres, mysql, sqlite, duckdb, files, rest_api)
} | {k.name: k for k in (cloud.BIGQUERY, cloud.SNOWFLAKE, cloud.REDSHIFT)}


def get_kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise ValidationFailed.field(
            "kind", f"'{name}' is not a connection kind; use one of {', '.join(KINDS)}"
        )
    return kind


__all__ = ["KINDS", "Kind", "TestContext", "get_kind"]
