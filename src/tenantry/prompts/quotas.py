"""Monthly token and spend quotas, enforced atomically: reserve before the call, settle after.

A reservation is one conditional UPDATE (``used + reserved + wanted <= limit``) committed on
its own, so however many executions start at once, the database lets through only those that
fit — on PostgreSQL the row lock re-checks the condition, on SQLite writes are serialized.
Settling swaps the reservation for what the provider reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.db import Database, insert_for, utcnow
from tenantry.core.errors import RateLimited, TenantryError, ValidationFailed
from tenantry.llm.pricing import usd
from tenantry.prompts.models import PromptSettings, QuotaReservation, QuotaUsage
from tenantry.tenancy import audit
from tenantry.tenancy.context import OrgContext


class QuotaExceeded(RateLimited):
    code = "quota-exceeded"
    title = "Quota exceeded"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any):
        TenantryError.__init__(self, detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


def period_of(now: datetime) -> str:
    return now.strftime("%Y-%m")


def resets_at(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def estimate_tokens(texts: list[str]) -> int:
    """A deliberately generous input estimate (≈4 characters a token, plus framing)."""
    return sum(math.ceil(len(t) / 4) + 4 for t in texts) + 3


@dataclass
class Reservation:
    id: str
    org_id: str
    period: str
    tokens: int
    micros: int


async def settings_row(session: AsyncSession, org_id: str) -> PromptSettings:
    row = await session.get(PromptSettings, org_id)
    return (
        row
        if row is not None
        else PromptSettings(org_id=org_id, protected_labels=["production"], store_inputs=True)
    )


def settings_view(row: PromptSettings) -> dict[str, Any]:
    return {
        "monthly_token_limit": row.monthly_token_limit,
        "monthly_spend_limit_usd": (
            None if row.monthly_spend_limit_micros is None else usd(row.monthly_spend_limit_micros)
        ),
        "protected_labels": list(row.protected_labels or []),
        "store_inputs": row.store_inputs if row.store_inputs is not None else True,
        "retention_days": row.retention_days,
    }


async def update_settings(
    session: AsyncSession, *, ctx: OrgContext, data: dict[str, Any]
) -> PromptSettings:
    row = await session.get(PromptSettings, ctx.org.id)
    created = row is None
    if row is None:
        row = PromptSettings(org_id=ctx.org.id, protected_labels=["production"], store_inputs=True)
    before = settings_view(row)
    if "monthly_token_limit" in data:
        v = data["monthly_token_limit"]
        if v is not None and (not isinstance(v, int) or v < 0):
            raise ValidationFailed.field("monthly_token_limit", "a whole number ≥ 0, or null")
        row.monthly_token_limit = v
    if "monthly_spend_limit_usd" in data:
        v = data["monthly_spend_limit_usd"]
        if v is not None and (not isinstance(v, int | float) or v < 0):
            raise ValidationFailed.field("monthly_spend_limit_usd", "an amount ≥ 0, or null")
        row.monthly_spend_limit_micros = None if v is None else round(v * 1_000_000)
    if "protected_labels" in data:
        from tenantry.prompts.service import check_label_name

        labels = data["protected_labels"] or []
        for name in labels:
            check_label_name(name)
        row.protected_labels = sorted(set(labels))
    if "store_inputs" in data:
        row.store_inputs = bool(data["store_inputs"])
    if "retention_days" in data:
        v = data["retention_days"]
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ValidationFailed.field("retention_days", "a number of days ≥ 1, or null")
        row.retention_days = v
    if created:
        session.add(row)
    audit.log(
        session,
        ctx,
        "prompt_settings.update",
        "prompt_settings",
        ctx.org.id,
        before=before,
        after=settings_view(row),
    )
    await session.commit()
    await session.refresh(row)
    return row


async def usage(session: AsyncSession, *, org_id: str, now: datetime | None = None) -> dict:
    now = now or utcnow()
    row = await session.get(QuotaUsage, (org_id, period_of(now)))
    limits = await settings_row(session, org_id)
    tokens_used = row.tokens_used if row else 0
    micros_used = row.micros_used if row else 0
    return {
        "period": period_of(now),
        "resets_at": resets_at(now),
        "tokens_used": tokens_used,
        "tokens_reserved": row.tokens_reserved if row else 0,
        "tokens_limit": limits.monthly_token_limit,
        "spend_used_usd": usd(micros_used),
        "spend_reserved_usd": usd(row.micros_reserved if row else 0),
        "spend_limit_usd": (
            None
            if limits.monthly_spend_limit_micros is None
            else usd(limits.monthly_spend_limit_micros)
        ),
    }


async def _ensure_row(session: AsyncSession, org_id: str, period: str) -> None:
    await session.execute(
        insert_for(session, QuotaUsage)
        .values(
            org_id=org_id,
            period=period,
            tokens_used=0,
            tokens_reserved=0,
            micros_used=0,
            micros_reserved=0,
        )
        .on_conflict_do_nothing()
    )


async def reserve(
    db: Database, *, org_id: str, tokens: int, micros: int, stale_after: float = 3600.0
) -> Reservation:
    """Hold ``tokens`` and ``micros`` for a call about to be made, or refuse with 429.

    ``stale_after``: seconds after which a reservation whose call never settled (its process
    died) is released by the sweep."""
    await sweep(db, older_than=stale_after)
    now = utcnow()
    period = period_of(now)
    async with db.session() as session:
        limits = await settings_row(session, org_id)
        await _ensure_row(session, org_id, period)
        cond = [QuotaUsage.org_id == org_id, QuotaUsage.period == period]
        if limits.monthly_token_limit is not None:
            cond.append(
                QuotaUsage.tokens_used + QuotaUsage.tokens_reserved + tokens
                <= limits.monthly_token_limit
            )
        if limits.monthly_spend_limit_micros is not None:
            cond.append(
                QuotaUsage.micros_used + QuotaUsage.micros_reserved + micros
                <= limits.monthly_spend_limit_micros
            )
        result = await session.execute(
            sa.update(QuotaUsage)
            .where(*cond)
            .values(
                tokens_reserved=QuotaUsage.tokens_reserved + tokens,
                micros_reserved=QuotaUsage.micros_reserved + micros,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            row = QuotaReservation(
                org_id=org_id, period=period, tokens=tokens, micros=micros, created_at=now
            )
            session.add(row)
            await session.flush()
            held = Reservation(row.id, org_id, period, tokens, micros)
            await session.commit()
            return held
        await session.commit()
        now_usage = await usage(session, org_id=org_id, now=now)
    reset = now_usage["resets_at"]
    retry_after = max(1, int((reset - now).total_seconds()))
    tokens_over = (
        limits.monthly_token_limit is not None
        and now_usage["tokens_used"] + now_usage["tokens_reserved"] + tokens
        > limits.monthly_token_limit
    )
    if tokens_over:
        detail = (
            f"The monthly token quota is used up: {now_usage['tokens_used']} used and "
            f"{now_usage['tokens_reserved']} reserved by calls in flight, of "
            f"{limits.monthly_token_limit}; this call needs up to {tokens} (its max_tokens plus "
            f"the prompt). It resets at {reset:%Y-%m-%d %H:%M} UTC; an admin can raise the limit."
        )
    else:
        detail = (
            f"The monthly spend quota is used up: ${now_usage['spend_used_usd']:.4f} spent and "
            f"${now_usage['spend_reserved_usd']:.4f} reserved, of "
            f"${now_usage['spend_limit_usd']:.2f}; this call may cost up to ${usd(micros):.4f}. "
            f"It resets at {reset:%Y-%m-%d %H:%M} UTC; an admin can raise the limit."
        )
    raise QuotaExceeded(
        detail,
        retry_after=retry_after,
        quota="tokens" if tokens_over else "spend",
        used=now_usage | {"resets_at": reset.isoformat()},
        resets_at=reset.isoformat(),
    )


async def settle(
    db: Database, r: Reservation, *, tokens_used: int, micros_used: int | None
) -> None:
    """Swap the reservation for what was really used (zero when the call failed). Exactly once:
    the reservation row is deleted first, and only the deleter gives the hold back."""
    async with db.session() as session:
        gone = await session.execute(sa.delete(QuotaReservation).where(QuotaReservation.id == r.id))
        held = gone.rowcount == 1  # else the sweep already released it
        await session.execute(
            sa.update(QuotaUsage)
            .where(QuotaUsage.org_id == r.org_id, QuotaUsage.period == r.period)
            .values(
                tokens_reserved=QuotaUsage.tokens_reserved - (r.tokens if held else 0),
                micros_reserved=QuotaUsage.micros_reserved - (r.micros if held else 0),
                tokens_used=QuotaUsage.tokens_used + tokens_used,
                micros_used=QuotaUsage.micros_used + (micros_used or 0),
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()


_last_sweep = 0.0
_SWEEP_EVERY = 60.0


async def sweep(db: Database, *, older_than: float, force: bool = False) -> int:
    """Release reservations older than any call can take (their process died mid-call), at
    most once a minute per process. Returns how many were released."""
    global _last_sweep
    if not force and time.monotonic() - _last_sweep < _SWEEP_EVERY:
        return 0
    _last_sweep = time.monotonic()
    cutoff = utcnow() - timedelta(seconds=older_than)
    released = 0
    async with db.session() as session:
        stale = (
            await session.scalars(
                sa.select(QuotaReservation).where(QuotaReservation.created_at < cutoff).limit(500)
            )
        ).all()
        for r in [Reservation(x.id, x.org_id, x.period, x.tokens, x.micros) for x in stale]:
            gone = await session.execute(
                sa.delete(QuotaReservation).where(QuotaReservation.id == r.id)
            )
            if gone.rowcount != 1:
                continue  # settled meanwhile
            await session.execute(
                sa.update(QuotaUsage)
                .where(QuotaUsage.org_id == r.org_id, QuotaUsage.period == r.period)
                .values(
                    tokens_reserved=QuotaUsage.tokens_reserved - r.tokens,
                    micros_reserved=QuotaUsage.micros_reserved - r.micros,
                )
                .execution_options(synchronize_session=False)
            )
            released += 1
        await session.commit()
    return released
