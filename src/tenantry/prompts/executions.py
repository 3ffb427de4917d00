"""The execution log: every call recorded, listed with filters, summed per prompt and per day,
and trimmed only by the retention setting."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import as_utc, utcnow
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.llm.pricing import usd
from tenantry.prompts.models import Execution, PromptSettings
from tenantry.prompts.service import find_prompt

STATUSES = ("succeeded", "failed")
_PURGED: dict[str, float] = {}  # org id → when its old executions were last trimmed
_PURGE_EVERY = 600.0


def execution_view(e: Execution) -> dict[str, Any]:
    return {
        "id": e.id,
        "created_at": e.created_at,
        "prompt_id": e.prompt_id,
        "prompt": e.prompt_slug,
        "version": e.version,
        "label": e.label,
        "inputs": e.inputs,
        "inputs_stored": e.inputs is not None,
        "output": e.output,
        "tool_calls": e.tool_calls,
        "finish_reason": e.finish_reason,
        "provider": e.provider,
        "model": e.model,
        "input_tokens": e.input_tokens,
        "output_tokens": e.output_tokens,
        "total_tokens": e.input_tokens + e.output_tokens,
        "cost_usd": None if e.cost_micros is None else usd(e.cost_micros),
        "latency_ms": e.latency_ms,
        "status": e.status,
        "error": e.error,
        "streamed": e.streamed,
        "caller": e.caller,
    }


def _filters(
    org_id: str,
    *,
    prompt_id: str | None = None,
    version: int | None = None,
    model: str | None = None,
    status: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> list:
    where = [Execution.org_id == org_id]
    if prompt_id:
        where.append(Execution.prompt_id == prompt_id)
    if version is not None:
        where.append(Execution.version == version)
    if model:
        where.append(Execution.model == model)
    if status:
        if status not in STATUSES:
            raise ValidationFailed.field("status", f"choose one of {', '.join(STATUSES)}")
        where.append(Execution.status == status)
    if since is not None:
        where.append(Execution.created_at >= _start(since))
    if until is not None:
        # A bare date means the whole day.
        end = (
            _start(until) + timedelta(days=1) if not isinstance(until, datetime) else as_utc(until)
        )
        where.append(Execution.created_at < end)
    return where


def _start(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime(value.year, value.month, value.day))


async def prompt_id_of(session: AsyncSession, *, org_id: str, ref: str | None) -> str | None:
    if not ref:
        return None
    return (await find_prompt(session, org_id=org_id, ref=ref)).id


async def list_executions(
    session: AsyncSession, *, org_id: str, params: PageParams, **filters: Any
) -> tuple[list[Execution], int]:
    stmt = (
        sa.select(Execution)
        .where(*_filters(org_id, **filters))
        .order_by(Execution.created_at.desc(), Execution.id)
    )
    return await paginate(session, stmt, params)


async def get_execution(session: AsyncSession, *, org_id: str, execution_id: str) -> Execution:
    found = await session.scalar(
        sa.select(Execution).where(Execution.org_id == org_id, Execution.id == execution_id)
    )
    if found is None:
        raise NotFound("There is no such execution in this organization.")
    return found


def _day(session: AsyncSession):
    if session.bind.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", Execution.created_at), "YYYY-MM-DD")
    return sa.func.substr(sa.cast(Execution.created_at, sa.String), 1, 10)


async def totals(
    session: AsyncSession, *, org_id: str, by: str = "prompt", **filters: Any
) -> dict[str, Any]:
    """Executions, tokens and cost summed per prompt or per day (UTC), plus the grand total."""
    if by not in ("prompt", "day", "model"):
        raise ValidationFailed.field("by", "choose prompt, day or model")
    key = {"prompt": Execution.prompt_slug, "model": Execution.model}.get(by) or _day(session)
    where = _filters(org_id, **filters)
    cols = [
        sa.func.count().label("executions"),
        sa.func.sum(sa.case((Execution.status == "failed", 1), else_=0)).label("failed"),
        sa.func.coalesce(sa.func.sum(Execution.input_tokens), 0).label("input_tokens"),
        sa.func.coalesce(sa.func.sum(Execution.output_tokens), 0).label("output_tokens"),
        sa.func.coalesce(sa.func.sum(Execution.cost_micros), 0).label("cost_micros"),
        sa.func.sum(sa.case((Execution.cost_micros.is_(None), 1), else_=0)).label("unpriced"),
    ]
    rows = (
        await session.execute(
            sa.select(key.label("key"), *cols).where(*where).group_by(key).order_by(key)
        )
    ).all()
    grand = (await session.execute(sa.select(*cols).where(*where))).one()

    def shape(r) -> dict[str, Any]:
        return {
            "executions": int(r.executions or 0),
            "failed": int(r.failed or 0),
            "input_tokens": int(r.input_tokens or 0),
            "output_tokens": int(r.output_tokens or 0),
            "cost_usd": usd(int(r.cost_micros or 0)),
            "unpriced_executions": int(r.unpriced or 0),
        }

    return {"by": by, "rows": [{"key": r.key} | shape(r) for r in rows], "total": shape(grand)}


async def record(session: AsyncSession, **values: Any) -> Execution:
    execution = Execution(created_at=utcnow(), **values)
    session.add(execution)
    await session.commit()
    await session.refresh(execution)
    return execution


async def purge_old(session: AsyncSession, *, org_id: str, default_days: int) -> int:
    """Drop executions past the retention period (at most every ten minutes per organization)."""
    last = _PURGED.get(org_id, 0.0)
    if time.monotonic() - last < _PURGE_EVERY:
        return 0
    _PURGED[org_id] = time.monotonic()
    row = await session.get(PromptSettings, org_id)
    days = [d for d in ((row.retention_days if row else None), default_days or None) if d]
    if not days:
        return 0
    cutoff = utcnow() - timedelta(days=min(days))
    result = await session.execute(
        sa.delete(Execution).where(Execution.org_id == org_id, Execution.created_at < cutoff)
    )
    await session.commit()
    return result.rowcount or 0
