"""Pre-aggregations: rollup tables built into each organization's own warehouse."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.semantic.models import PreAggPartition


async def ready_tables(
    session: AsyncSession, org_id: str, expected: dict[str, tuple[str, str]], schema: str
) -> dict[str, str]:
    """Of ``expected`` ({path: (signature, table)}), the pre-aggregations completely built
    under that definition: path → schema-qualified table. Partial ones serve nothing."""
    if not expected:
        return {}
    rows = await session.execute(
        sa.select(PreAggPartition.pre_aggregation, PreAggPartition.signature).where(
            PreAggPartition.org_id == org_id,
            PreAggPartition.partition.in_(("all", "*")),
            PreAggPartition.built_at.is_not(None),
        )
    )
    ready = {(path, sig) for path, sig in rows}
    return {
        path: f"{schema}.{table}" for path, (sig, table) in expected.items() if (path, sig) in ready
    }
