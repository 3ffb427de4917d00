"""Schedules: create, change, pause, list and preview them.

``fire`` (in ``schedule_fires``) settles their fire times exactly once across processes; the
runtime in ``scheduler`` only tells it which times are due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import as_utc, utcnow
from tenantry.core.errors import NotFound, ValidationFailed
from tenantry.core.pagination import PageParams, paginate
from tenantry.orchestration import cron, registry
from tenantry.orchestration.models import NODE_KINDS, SCHEDULE_TARGETS, Schedule, ScheduleFire
from tenantry.orchestration.schedule_fires import fire, last_fire_time  # noqa: F401 (re-exported)
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext
from tenantry.tenancy.service import ensure_unique_name, validate_name

log = logging.getLogger("tenantry.schedules")
NEXT_FIRES = 5

# --- in-process change notification (the scheduler reconciles at once) ----------------------

_listeners: list[Callable[[], None]] = []


def on_change(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after any schedule change made by this process; returns an undo."""
    _listeners.append(callback)
    return lambda: _listeners.remove(callback) if callback in _listeners else None


def _changed() -> None:
    for callback in list(_listeners):
        try:
            callback()
        except Exception:  # a listener must never fail the change itself
            log.exception("schedule change listener failed")


# --- views ----------------------------------------------------------------------------------


def fire_times_view(times: list[datetime]) -> list[dict[str, str]]:
    """Each time as an ISO instant in UTC and in the schedule's own zone."""
    return [{"utc": as_utc(t).isoformat(), "local": t.isoformat()} for t in times]


def preview(expr: str, timezone: str, *, n: int = NEXT_FIRES, now: datetime | None = None):
    """Description and next fire times of an unsaved expression; both fields' errors at once."""
    errors = []
    for check in (lambda: cron.parse(expr), lambda: cron.zone(timezone)):
        try:
            check()
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    times = cron.next_fire_times(expr, timezone, now or utcnow(), n)
    return {
        "cron": expr,
        "timezone": timezone,
        "description": cron.describe(expr),
        "next_fires": fire_times_view(times),
    }


def fire_view(f: ScheduleFire) -> dict[str, Any]:
    return {
        "id": f.id,
        "schedule_id": f.schedule_id,
        "fire_time": f.fire_time,
        "status": f.status,
        "run_id": f.run_id,
        "reason": f.reason,
        "recorded_at": f.recorded_at,
        "worker": f.worker,
    }


async def _target_name(session: AsyncSession, s: Schedule) -> str | None:
    kind = s.dag_node_kind if s.target_kind == "dag" else s.target_kind
    if s.target_id is None or kind is None:
        return None
    found = await registry.target(session, s.org_id, kind, s.target_id)
    return found.name if found else None


def target_label(s: Schedule, name: str | None) -> str:
    if s.target_kind == "dag":
        if s.target_id is None:
            return "the whole DAG"
        return f"the DAG from {s.dag_node_kind} {name or '(deleted)'} and downstream"
    return f"{s.target_kind} {name or '(deleted)'}"


async def view(
    session: AsyncSession, s: Schedule, *, fires: int = 10, now: datetime | None = None
) -> dict[str, Any]:
    name = await _target_name(session, s)
    nxt = [] if s.paused else cron.next_fire_times(s.cron, s.timezone, now or utcnow(), NEXT_FIRES)
    last = await session.scalars(
        sa.select(ScheduleFire)
        .where(ScheduleFire.schedule_id == s.id)
        .order_by(ScheduleFire.fire_time.desc())
        .limit(fires)
    )
    return {
        "id": s.id,
        "name": s.name,
        "cron": s.cron,
        "timezone": s.timezone,
        "description": cron.describe(s.cron),
        "target_kind": s.target_kind,
        "target_id": s.target_id,
        "dag_node_kind": s.dag_node_kind,
        "target_name": name,
        "target_label": target_label(s, name),
        "target_missing": s.target_id is not None and name is None,
        "paused": s.paused,
        "coalesce": s.coalesce,
        "grace_seconds": s.grace_seconds,
        "active_since": s.active_since,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "next_fires": fire_times_view(nxt),
        "last_fires": [fire_view(f) for f in last],
    }


# --- reading --------------------------------------------------------------------------------


async def get(session: AsyncSession, *, ctx: OrgContext, schedule_id: str) -> Schedule:
    found = await session.scalar(
        sa.select(Schedule).where(Schedule.org_id == ctx.org.id, Schedule.id == schedule_id)
    )
    if found is None:
        raise NotFound(f"Schedule '{schedule_id}' not found in this organization.")
    return found


async def list_schedules(
    session: AsyncSession, *, ctx: OrgContext, params: PageParams
) -> tuple[list[Schedule], int]:
    stmt = sa.select(Schedule).where(Schedule.org_id == ctx.org.id).order_by(Schedule.name)
    return await paginate(session, stmt, params)


async def list_fires(
    session: AsyncSession, *, ctx: OrgContext, schedule_id: str, params: PageParams
) -> tuple[list[ScheduleFire], int]:
    s = await get(session, ctx=ctx, schedule_id=schedule_id)
    stmt = (
        sa.select(ScheduleFire)
        .where(ScheduleFire.schedule_id == s.id, ScheduleFire.org_id == ctx.org.id)
        .order_by(ScheduleFire.fire_time.desc())
    )
    return await paginate(session, stmt, params)


# --- changing -------------------------------------------------------------------------------


async def _check_target(
    session: AsyncSession, org_id: str, kind: str, target_id: str | None, node_kind: str | None
) -> tuple[str | None, str | None]:
    """(target_id, dag_node_kind) as saved; errors name the field to fix."""
    if kind not in SCHEDULE_TARGETS:
        raise ValidationFailed.field(
            "target_kind", f"'{kind}' is not a target; use one of {', '.join(SCHEDULE_TARGETS)}"
        )
    if kind == "dag":
        if not target_id:
            return None, None  # the whole DAG
        if node_kind not in NODE_KINDS:
            raise ValidationFailed.field(
                "dag_node_kind",
                f"say which kind of node '{target_id}' is: {' or '.join(NODE_KINDS)}",
            )
    elif not target_id:
        raise ValidationFailed.field("target_id", f"is required: the id of the {kind} to run")
    lookup = node_kind if kind == "dag" else kind
    found = await registry.target(session, org_id, lookup, target_id)
    if found is None:
        raise ValidationFailed.field(
            "target_id", f"there is no {lookup} '{target_id}' in this organization"
        )
    return found.id, node_kind if kind == "dag" else None


def _grace(value: int) -> int:
    if value is None or value < 0:
        raise ValidationFailed.field(
            "grace_seconds", "must be 0 or more seconds (how late a fire time may still run)"
        )
    return int(value)


def _audit_view(s: Schedule) -> dict[str, Any]:
    keys = ("name", "cron", "timezone", "target_kind", "target_id", "dag_node_kind")
    return {k: getattr(s, k) for k in keys} | {
        "paused": s.paused,
        "coalesce": s.coalesce,
        "grace_seconds": s.grace_seconds,
    }


async def create(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    name: str,
    cron_expr: str,
    timezone: str,
    target_kind: str,
    target_id: str | None,
    grace_seconds: int,
    dag_node_kind: str | None = None,
    coalesce: bool = True,
    paused: bool = False,
) -> Schedule:
    name = validate_name(name)
    expr = cron.parse(cron_expr).expr
    tz = cron.zone(timezone).key
    target, node_kind = await _check_target(
        session, ctx.org.id, target_kind, target_id, dag_node_kind
    )
    await ensure_unique_name(session, Schedule, org_id=ctx.org.id, name=name, noun="schedule")
    s = Schedule(
        org_id=ctx.org.id,
        name=name,
        cron=expr,
        timezone=tz,
        target_kind=target_kind,
        target_id=target,
        dag_node_kind=node_kind,
        paused=bool(paused),
        coalesce=bool(coalesce),
        grace_seconds=_grace(grace_seconds),
        active_since=utcnow(),
        created_by_id=ctx.user.id if ctx.user else None,
    )
    session.add(s)
    await session.flush()
    audit.log(session, ctx, "schedule.create", "schedule", s.id, after=_audit_view(s))
    await session.commit()
    _changed()
    return s


UNSET: Any = object()


async def update(
    session: AsyncSession,
    *,
    ctx: OrgContext,
    schedule_id: str,
    name: str | None = None,
    cron_expr: str | None = None,
    timezone: str | None = None,
    target_kind: str | None = None,
    target_id: str | None = UNSET,
    dag_node_kind: str | None = UNSET,
    coalesce: bool | None = None,
    grace_seconds: int | None = None,
) -> Schedule:
    """Change the given fields. A new cron or zone starts afresh: earlier fire times of the
    old one are not owed (``active_since`` moves to now)."""
    s = await get(session, ctx=ctx, schedule_id=schedule_id)
    before = _audit_view(s)
    if name is not None and (new_name := validate_name(name)) != s.name:
        await ensure_unique_name(
            session, Schedule, org_id=ctx.org.id, name=new_name, noun="schedule", exclude=s.id
        )
        s.name = new_name
    expr = cron.parse(cron_expr).expr if cron_expr is not None else s.cron
    tz = cron.zone(timezone).key if timezone is not None else s.timezone
    if (expr, tz) != (s.cron, s.timezone):
        s.cron, s.timezone, s.active_since = expr, tz, utcnow()
    if target_kind is not None or target_id is not UNSET or dag_node_kind is not UNSET:
        kind = target_kind if target_kind is not None else s.target_kind
        tid = s.target_id if target_id is UNSET else target_id
        node = s.dag_node_kind if dag_node_kind is UNSET else dag_node_kind
        s.target_id, s.dag_node_kind = await _check_target(session, ctx.org.id, kind, tid, node)
        s.target_kind = kind
    if coalesce is not None:
        s.coalesce = bool(coalesce)
    if grace_seconds is not None:
        s.grace_seconds = _grace(grace_seconds)
    audit.log(
        session, ctx, "schedule.update", "schedule", s.id, before=before, after=_audit_view(s)
    )
    await session.commit()
    _changed()
    return s


async def set_paused(
    session: AsyncSession, *, ctx: OrgContext, schedule_id: str, paused: bool
) -> Schedule:
    """Pause, or resume: fire times while paused are not owed (``active_since`` moves on)."""
    s = await get(session, ctx=ctx, schedule_id=schedule_id)
    if s.paused != paused:
        s.paused = paused
        if not paused:
            s.active_since = utcnow()
        action = "schedule.pause" if paused else "schedule.resume"
        audit.log(session, ctx, action, "schedule", s.id, after={"paused": paused})
        await session.commit()
        _changed()
    return s


async def delete(session: AsyncSession, *, ctx: OrgContext, schedule_id: str) -> None:
    s = await get(session, ctx=ctx, schedule_id=schedule_id)
    audit.log(session, ctx, "schedule.delete", "schedule", s.id, before=_audit_view(s))
    await session.delete(s)
    await session.commit()
    _changed()
