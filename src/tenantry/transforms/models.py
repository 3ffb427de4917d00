"""Transformations (dbt models and snapshots) and per-table source settings of an organization.

The SQL and the dbt configuration are kept here; the dbt project on disk is generated from
these rows before every dbt command, so the store is the only source of truth.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin

KINDS = ("model", "snapshot")


class Transformation(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "transformations"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(120))  # the dbt model name: ref('name')
    kind: Mapped[str] = mapped_column(sa.String(16), default="model")
    sql: Mapped[str] = mapped_column(sa.Text, default="")
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    # Validated by ``schemas.TransformSpec``: materialization, schema, keys, tags, columns, …
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (sa.CheckConstraint("kind in ('model','snapshot')", name="kind"),)


class SourceTable(IdMixin, TimestampMixin, Base):
    """What a user adds to a loaded table as a dbt source: a description and freshness."""

    __tablename__ = "transform_sources"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    dataset: Mapped[str] = mapped_column(sa.String(16))  # raw | staging | marts
    table: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    # None: the load time dlt records with every row (``_dlt_load_id``).
    loaded_at_field: Mapped[str | None] = mapped_column(sa.String(300), default=None)
    # {"count": 12, "period": "hour"}
    warn_after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    error_after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)

    __table_args__ = (sa.UniqueConstraint("org_id", "dataset", "table"),)
