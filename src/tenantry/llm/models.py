"""An organization's LLM provider entries and its price overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin
from tenantry.core.secrets import EncryptedJSON


class LLMProvider(IdMixin, TimestampMixin, Base):
    """One configured provider (e.g. "openai", "local-vllm"); its key encrypted, never returned."""

    __tablename__ = "llm_providers"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))  # slug, unique in the organization
    kind: Mapped[str] = mapped_column(sa.String(20))  # openai | anthropic | gemini
    base_url: Mapped[str] = mapped_column(sa.String(500), default="")
    default_model: Mapped[str] = mapped_column(sa.String(200), default="")
    is_default: Mapped[bool] = mapped_column(default=False)
    options: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # timeout, api_version
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)  # api_key, headers
    last_tested_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None)
    last_test_message: Mapped[str | None] = mapped_column(sa.String(1000), default=None)

    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)


class ModelPrice(IdMixin, TimestampMixin, Base):
    """An organization's price for a model, overriding the shipped price list.

    Prices are USD per million tokens, which is also micro-USD per token: costs are kept as
    integer micro-USD so quota sums are exact."""

    __tablename__ = "llm_model_prices"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(sa.String(200))
    input_per_mtok: Mapped[float] = mapped_column(sa.Float)
    output_per_mtok: Mapped[float] = mapped_column(sa.Float)

    __table_args__ = (sa.UniqueConstraint("org_id", "model"),)
