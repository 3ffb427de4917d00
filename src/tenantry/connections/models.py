"""Connections of an organization. Secret fields live encrypted apart from the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin
from tenantry.core.secrets import EncryptedJSON


class Connection(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "connections"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # no secrets here
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    last_tested_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None)
    last_test_message: Mapped[str | None] = mapped_column(sa.String(1000), default=None)
