"""The audit log: append-only records of every state change, secrets redacted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import as_utc
from tenantry.core.pagination import PageParams, paginate
from tenantry.core.secrets import redact
from tenantry.tenancy.context import Caller, OrgContext
from tenantry.tenancy.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    caller: Caller,
    action: str,
    object_type: str,
    object_id: str | None,
    org_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    secret_fields: frozenset[str] = frozenset(),
) -> AuditEvent:
    """Add an audit event to the caller's transaction: it commits or rolls back with the change."""
    event = AuditEvent(
        org_id=org_id,
        actor_type=caller.actor_type,
        actor_id=caller.actor_id,
        actor_label=caller.actor_label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=redact(before, secret_fields) if before is not None else None,
        after=redact(after, secret_fields) if after is not None else None,
        client_addr=caller.client_addr,
        request_id=caller.request_id,
    )
    session.add(event)
    return event


def log(
    session: AsyncSession,
    ctx: OrgContext,
    action: str,
    object_type: str,
    object_id: str | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    secret_fields: frozenset[str] = frozenset(),
) -> AuditEvent:
    """``record`` for a change inside an organization, by the request's caller."""
    return record(
        session,
        caller=ctx.caller,
        action=action,
        object_type=object_type,
        object_id=object_id,
        org_id=ctx.org.id,
        before=before,
        after=after,
        secret_fields=secret_fields,
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_events(
    session: AsyncSession,
    *,
    org_id: str,
    params: PageParams,
    action: str | None = None,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditEvent], int]:
    stmt = sa.select(AuditEvent).where(AuditEvent.org_id == org_id)
    if action:
        # "member" matches member.role_change, member.remove, …
        stmt = stmt.where(
            sa.or_(
                AuditEvent.action == action,
                AuditEvent.action.startswith(action + ".", autoescape=True),
            )
        )
    if actor:
        stmt = stmt.where(
            sa.or_(
                AuditEvent.actor_id == actor,
                AuditEvent.actor_label.ilike(f"%{_like_escape(actor)}%", escape="\\"),
            )
        )
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.created_at >= as_utc(since))
    if until:
        stmt = stmt.where(AuditEvent.created_at < as_utc(until))
    stmt = stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    return await paginate(session, stmt, params)
