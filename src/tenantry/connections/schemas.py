"""Request and response bodies of the connections API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.tenancy.schemas import PageOut


class ConnectionIn(BaseModel):
    name: str = Field(max_length=200)
    kind: str = Field(description="postgres, mysql, sqlite or duckdb (see connection-kinds)")
    config: dict[str, Any] = Field(description="Fields of the kind's schema; secrets write-only")
    description: str = Field(default="", max_length=1000)


class ConnectionPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = Field(
        default=None, description="Changed fields; a secret left out or sent masked is kept"
    )
    description: str | None = Field(default=None, max_length=1000)


class ConnectionTestIn(BaseModel):
    kind: str
    config: dict[str, Any]


class ConnectionOut(BaseModel):
    id: str
    name: str
    kind: str
    description: str
    config: dict[str, Any] = Field(description="Secret fields are masked")
    last_tested_at: datetime | None
    last_test_ok: bool | None
    last_test_message: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ConnectionsPage(PageOut):
    items: list[ConnectionOut]


class TestResultOut(BaseModel):
    ok: bool
    message: str
    elapsed_ms: float


class KindOut(BaseModel):
    name: str
    title: str
    direction: str
    reachable: bool
    secret_fields: list[str]
    config_schema: dict[str, Any]


class FileOut(BaseModel):
    name: str = Field(description="Path inside the organization's files, e.g. uploads/orders.csv")
    size: int
    modified_at: datetime


class FilesOut(BaseModel):
    items: list[FileOut]
