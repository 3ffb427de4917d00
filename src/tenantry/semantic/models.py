"""Semantic models per organization (immutable versions), JWT signing keys, and the state of
built pre-aggregation partitions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin


class ModelVersion(IdMixin, TimestampMixin, Base):
    """One saved state of an organization's data model: every file and the enabled templates.

    Versions are never changed; the current model is the highest number. A save that changes
    nothing (same content hash) creates no version."""

    __tablename__ = "semantic_versions"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(sa.Integer)
    files: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)  # path → YAML
    templates: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    author_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    author: Mapped[str] = mapped_column(sa.String(200), default="")  # who, as shown then

    __table_args__ = (sa.UniqueConstraint("org_id", "number"),)


class SigningKey(IdMixin, TimestampMixin, Base):
    """An HS256 secret an organization's tokens are signed with; its id is the JWT ``kid``."""

    __tablename__ = "semantic_keys"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    secret_enc: Mapped[str] = mapped_column(sa.Text)  # Fernet; shown once, when created
    label: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)


class PreAggPartition(IdMixin, TimestampMixin, Base):
    """A built pre-aggregation partition: which table holds it and under which refresh value."""

    __tablename__ = "semantic_preagg_partitions"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    pre_aggregation: Mapped[str] = mapped_column(sa.String(250))  # cube.name
    signature: Mapped[str] = mapped_column(sa.String(64))  # hash of its definition
    partition: Mapped[str] = mapped_column(sa.String(40))  # "all" or e.g. "2024-03"
    table_name: Mapped[str] = mapped_column(sa.String(250))
    range_start: Mapped[dt.datetime | None] = mapped_column(
        sa.DateTime(timezone=True), default=None
    )
    range_end: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    refresh_value: Mapped[str] = mapped_column(sa.String(200), default="")
    row_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    built_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (
        sa.UniqueConstraint(
            "org_id", "pre_aggregation", "signature", "partition", name="uq_preagg_partition"
        ),
    )
