"""Runs and their logs. One row per attempt; retries of the same request share ``root_id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
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
            "status in ('queued','running','succeeded','failed','cancelled')", name="status"
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
