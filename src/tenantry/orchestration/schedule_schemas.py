"""API shapes of schedules and their fire times."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tenantry.tenancy.schemas import PageOut

CRON_HELP = "5 fields: minute hour day-of-month month day-of-week (0 or 7 = Sunday), or @daily …"


class FireTimeOut(BaseModel):
    utc: str = Field(description="ISO 8601 instant in UTC")
    local: str = Field(description="The same instant in the schedule's time zone")


class FireOut(BaseModel):
    id: str
    schedule_id: str
    fire_time: datetime = Field(description="The scheduled time (the idempotency key), UTC")
    status: str = Field(description="fired, missed, coalesced or failed")
    run_id: str | None = Field(description="The run it started (status fired)")
    reason: str
    recorded_at: datetime
    worker: str = Field(description="The server process that recorded it")


class FiresPage(PageOut):
    items: list[FireOut]


class ScheduleIn(BaseModel):
    name: str
    cron: str = Field(description=CRON_HELP, examples=["*/15 * * * *", "30 2 * * 1-5"])
    timezone: str = Field("UTC", description="IANA time zone, e.g. Europe/Berlin")
    target_kind: str = Field(description="pipeline, transformation or dag")
    target_id: str | None = Field(
        None,
        description="The pipeline or transformation; for dag: the node to start from "
        "(its downstream runs too), or null for the whole DAG",
    )
    dag_node_kind: str | None = Field(None, description="With dag and a node: its kind")
    coalesce: bool = Field(
        True, description="Several fire times due at once (within grace) start one run"
    )
    grace_seconds: int | None = Field(
        None,
        description="A fire time later than this is recorded as missed, not run "
        "(default TENANTRY_SCHEDULE_DEFAULT_GRACE_SECONDS)",
    )
    paused: bool = False


class SchedulePatch(BaseModel):
    name: str | None = None
    cron: str | None = Field(None, description=CRON_HELP)
    timezone: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    dag_node_kind: str | None = None
    coalesce: bool | None = None
    grace_seconds: int | None = None


class ScheduleOut(BaseModel):
    id: str
    name: str
    cron: str
    timezone: str
    description: str = Field(description="The cron expression in words")
    target_kind: str
    target_id: str | None
    dag_node_kind: str | None
    target_name: str | None
    target_label: str
    target_missing: bool = Field(description="The target was deleted; fires will fail")
    paused: bool
    coalesce: bool
    grace_seconds: int
    active_since: datetime = Field(description="Fire times after this are owed")
    created_at: datetime
    updated_at: datetime
    next_fires: list[FireTimeOut] = Field(description="The next five (none while paused)")
    last_fires: list[FireOut] = Field(description="The latest recorded fire times")


class SchedulesPage(PageOut):
    items: list[ScheduleOut]


class PreviewOut(BaseModel):
    cron: str
    timezone: str
    description: str
    next_fires: list[FireTimeOut]
