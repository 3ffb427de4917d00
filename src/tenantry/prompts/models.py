"""Prompts, their immutable versions and labels, reusable parts, executions and quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.core.db import Base, IdMixin, TimestampMixin


def _org():
    return sa.ForeignKey("organizations.id", ondelete="CASCADE")


def _user():
    return sa.ForeignKey("users.id", ondelete="SET NULL")


class Prompt(IdMixin, TimestampMixin, Base):
    """A prompt's identity; its content lives in versions. Description and tags mirror the
    latest version so lists need no join."""

    __tablename__ = "prompts"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    slug: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    latest_version: Mapped[int] = mapped_column(sa.Integer, default=0)

    __table_args__ = (sa.UniqueConstraint("org_id", "slug"),)


class PromptVersion(IdMixin, TimestampMixin, Base):
    """One saved state of a prompt: never changed once written.

    ``spec`` is the whole prompt as YAML describes it (template or messages, inputs, model
    config, metadata); ``parts`` pins the part versions it was saved with: name → number."""

    __tablename__ = "prompt_versions"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    prompt_id: Mapped[str] = mapped_column(
        sa.ForeignKey("prompts.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(sa.Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    parts: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    author_id: Mapped[str | None] = mapped_column(_user(), default=None)
    author: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("prompt_id", "number"),)


class PromptLabel(IdMixin, TimestampMixin, Base):
    """A movable name for one version (``production``, ``staging``, custom). ``latest`` is not
    stored: it is always the highest version."""

    __tablename__ = "prompt_labels"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    prompt_id: Mapped[str] = mapped_column(
        sa.ForeignKey("prompts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(50))
    version: Mapped[int] = mapped_column(sa.Integer)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("prompt_id", "name"),)


class PromptPart(IdMixin, TimestampMixin, Base):
    """A reusable snippet, included by name (``{% include "name" %}``)."""

    __tablename__ = "prompt_parts"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    latest_version: Mapped[int] = mapped_column(sa.Integer, default=0)

    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)


class PartVersion(IdMixin, TimestampMixin, Base):
    __tablename__ = "prompt_part_versions"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    part_id: Mapped[str] = mapped_column(
        sa.ForeignKey("prompt_parts.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(sa.Integer)
    content: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.String(500), default="")
    author_id: Mapped[str | None] = mapped_column(_user(), default=None)
    author: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("part_id", "number"),)


class PromptSettings(TimestampMixin, Base):
    """An organization's registry settings: quotas, protected labels, what executions keep."""

    __tablename__ = "prompt_settings"

    org_id: Mapped[str] = mapped_column(_org(), primary_key=True)
    monthly_token_limit: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    monthly_spend_limit_micros: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    protected_labels: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["production"])
    store_inputs: Mapped[bool] = mapped_column(default=True)
    retention_days: Mapped[int | None] = mapped_column(sa.Integer, default=None)


class QuotaUsage(Base):
    """What an organization has used and has reserved (calls in flight) in one month.

    Reservations move here with one conditional UPDATE, so concurrent executions can never
    together pass the limit: see ``prompts.quotas``."""

    __tablename__ = "prompt_quota_usage"

    org_id: Mapped[str] = mapped_column(_org(), primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)  # "2026-11" (UTC)
    tokens_used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    tokens_reserved: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    micros_used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    micros_reserved: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class QuotaReservation(IdMixin, Base):
    """One call's hold on the quota, until it settles. A process that dies mid-call leaves its
    row behind; the sweep in ``prompts.quotas`` releases rows older than any call can take."""

    __tablename__ = "prompt_quota_reservations"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    tokens: Mapped[int] = mapped_column(sa.BigInteger)
    micros: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(index=True)


class Execution(IdMixin, Base):
    """One rendered-and-called prompt: what went in (unless the caller opted out), what came
    out, what it used and cost."""

    __tablename__ = "prompt_executions"

    org_id: Mapped[str] = mapped_column(_org(), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    prompt_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("prompts.id", ondelete="SET NULL"), index=True, default=None
    )
    prompt_slug: Mapped[str] = mapped_column(sa.String(100))
    version: Mapped[int] = mapped_column(sa.Integer)
    label: Mapped[str | None] = mapped_column(sa.String(50), default=None)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    output: Mapped[str] = mapped_column(sa.Text, default="")
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    finish_reason: Mapped[str] = mapped_column(sa.String(40), default="")
    provider: Mapped[str] = mapped_column(sa.String(64), default="")
    model: Mapped[str] = mapped_column(sa.String(200), default="")
    input_tokens: Mapped[int] = mapped_column(sa.Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(sa.Integer, default=0)
    cost_micros: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    latency_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)  # succeeded | failed
    error: Mapped[str] = mapped_column(sa.String(2000), default="")
    streamed: Mapped[bool] = mapped_column(default=False)
    caller: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.Index("ix_prompt_executions_org_created", "org_id", "created_at"),)
