"""Pre-aggregations: rollup tables built into each organization's own warehouse."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.semantic.models import PreAggPartition


async def available_tables(session: AsyncSession, org_id: str) -> dict[str, str]:
    """Built pre-aggregations of one organization: path → the table that serves it."""
    rows = await session.execute(
        sa.select(PreAggPartition.pre_aggregation, PreAggPartition.table_name).where(
            PreAggPartition.org_id == org_id,
            PreAggPartition.partition == "all",
            PreAggPartition.built_at.is_not(None),
        )
    )
    return {path: table for path, table in rows}
