"""Runs and their logs. One row per attempt; retries of the same request share ``root_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "skipped")
FINISHED = ("succeeded", "failed", "cancelled", "skipped")
TRIGGERS = ("manual", "schedule", "dependency", "api", "retry")


class Run(IdMixin, TimestampMixin, Base):
    __tablename__ = "runs"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))  # pipeline, …
    target_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    target_name: Mapped[str] = mapped_column(sa.String(200))  # as it was when the run began
    trigger: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    attempt: Mapped[int] = mapped_column(default=1)
    root_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    retry_of_id: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    # A node's run inside a DAG run: the DAG run's id.
    parent_id: Mapped[str | None] = mapped_column(sa.String(32), default=None, index=True)
    max_attempts: Mapped[int] = mapped_column(default=1)
    backoff_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    not_before: Mapped[datetime | None] = mapped_column(default=None)  # backoff of a retry
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # {"orders": {"rows": 10, "bytes": 2048}, …}
    tables: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # What the job recorded as it went (e.g. the load packages it extracted), for its retries.
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    rows_loaded: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bytes_loaded: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error_class: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (
        sa.CheckConstraint(
            "status in ('queued','running','succeeded','failed','cancelled','skipped')",
            name="status",
        ),
        sa.Index("ix_runs_org_created", "org_id", "created_at"),
    )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class RunLog(Base):
    __tablename__ = "run_logs"

    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    org_id: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column()
    level: Mapped[str] = mapped_column(sa.String(8))
    message: Mapped[str] = mapped_column(sa.Text)


NODE_KINDS = ("pipeline", "transformation")


class DagEdge(IdMixin, TimestampMixin, Base):
    """An explicit dependency: ``downstream`` runs after ``upstream``. Edges implied by a
    transformation's ``ref()``/``source()`` are inferred on read, never stored."""

    __tablename__ = "dag_edges"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    upstream_kind: Mapped[str] = mapped_column(sa.String(16))
    upstream_id: Mapped[str] = mapped_column(sa.String(32))
    downstream_kind: Mapped[str] = mapped_column(sa.String(16))
    downstream_id: Mapped[str] = mapped_column(sa.String(32))
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (
        # An explicit name: the conventional one is longer than PostgreSQL's 63 characters.
        sa.Index(
            "uq_dag_edges_edge",
            "org_id",
            "upstream_kind",
            "upstream_id",
            "downstream_kind",
            "downstream_id",
            unique=True,
        ),
    )


class DagSettings(TimestampMixin, Base):
    __tablename__ = "dag_settings"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # A node that succeeds outside a DAG run starts its downstream nodes.
    auto_downstream: Mapped[bool] = mapped_column(default=True)
    max_parallel: Mapped[int] = mapped_column(default=4)  # nodes of one DAG run at once


SCHEDULE_TARGETS = ("pipeline", "transformation", "dag")
FIRE_STATUSES = ("fired", "missed", "coalesced", "failed")


class Schedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "schedules"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    cron: Mapped[str] = mapped_column(sa.String(120))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    target_kind: Mapped[str] = mapped_column(sa.String(16))
    # None with target_kind "dag": the whole DAG; else the node (its kind in dag_node_kind).
    target_id: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    dag_node_kind: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    paused: Mapped[bool] = mapped_column(default=False)
    coalesce: Mapped[bool] = mapped_column(default=True)
    grace_seconds: Mapped[int] = mapped_column(default=300)
    # Fire times after this instant are owed; set on create, resume and cron change, so a
    # paused stretch is not reported as missed.
    active_since: Mapped[datetime] = mapped_column()
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class ScheduleFire(IdMixin, Base):
    """One fire time of a schedule. The unique key is the idempotency key: however many
    scheduler processes see a fire time, one insert wins and only it starts the run."""

    __tablename__ = "schedule_fires"

    schedule_id: Mapped[str] = mapped_column(
        sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    fire_time: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))
    run_id: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    reason: Mapped[str] = mapped_column(sa.String(1000), default="")
    recorded_at: Mapped[datetime] = mapped_column()
    worker: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("schedule_id", "fire_time"),)
