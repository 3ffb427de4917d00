"""Which warehouse each organization has. Recorded on first use, so changing the operator's
default later never moves an organization that already holds data."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin
from tenantry.core.secrets import EncryptedJSON

KINDS = ("duckdb", "postgres", "connection")


class Warehouse(IdMixin, TimestampMixin, Base):
    __tablename__ = "warehouses"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    # postgres: {"role", "password", "schemas": {"raw": …, "staging": …, "marts": …}}
    config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    # kind "connection": the organization's own database, a destination connection of its own.
    connection_id: Mapped[str | None] = mapped_column(sa.ForeignKey("connections.id"), default=None)

    __table_args__ = (
        sa.CheckConstraint("kind in ('duckdb','postgres','connection')", name="kind"),
    )
