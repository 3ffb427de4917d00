"""Pipelines of an organization. The spec is validated by ``schemas.PipelineSpec`` on every save."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class Pipeline(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "pipelines"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    source_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id"))
    # None: the organization's own warehouse.
    destination_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("connections.id"), default=None
    )
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
