"""API shapes of runs and their logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tenantry.tenancy.schemas import PageOut


class RunOut(BaseModel):
    id: str
    kind: str
    target_id: str
    target_name: str
    trigger: str
    status: str = Field(description="queued, running, succeeded, failed, cancelled or skipped")
    attempt: int
    max_attempts: int
    root_id: str = Field(description="The first attempt's id; shared by its retries")
    retry_of_id: str | None
    parent_id: str | None = Field(default=None, description="The DAG run this run is part of")
    created_at: datetime
    not_before: datetime | None = Field(description="A retry waits for its backoff until then")
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_seconds: float | None
    cancel_requested: bool
    tables: dict[str, Any] = Field(description="Rows and bytes loaded per table")
    results: list[dict[str, Any]] | None = Field(
        default=None,
        description="dbt runs: status, seconds, rows and message per model, snapshot and test",
    )
    rows_loaded: int
    bytes_loaded: int
    error_class: str | None = Field(description="terminal or transient")
    error: str | None


class RunsPage(PageOut):
    items: list[RunOut]


class LogLineOut(BaseModel):
    seq: int
    at: datetime
    level: str
    message: str


class LogsOut(BaseModel):
    run_id: str
    status: str
    lines: list[LogLineOut]
    next_after: int = Field(description="Pass as `after` to get only newer lines")
