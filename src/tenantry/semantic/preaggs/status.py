"""What the UI, API and CLI show of an organization's pre-aggregations."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tenantry.semantic.models import PreAggPartition
from tenantry.semantic.preaggs import jobs
from tenantry.semantic.preaggs.plan import definitions


async def describe(session, settings, org_id: str) -> list[dict[str, Any]]:
    found = await jobs.model_target(session, settings, org_id)
    if found is None:
        return []
    model, _, dialect, schemas = found
    rows = list(
        await session.scalars(
            sa.select(PreAggPartition)
            .where(PreAggPartition.org_id == org_id)
            .order_by(PreAggPartition.partition)
        )
    )
    out = []
    for d in definitions(model, dialect=dialect, schemas=schemas):
        mine = [r for r in rows if r.pre_aggregation == d.path and r.signature == d.signature]
        parts = [r for r in mine if r.partition not in ("*", "all")]
        ready = next((r for r in mine if r.partition in ("*", "all")), None)
        out.append(
            {
                "name": d.path,
                "type": d.pre.type,
                "table": d.table,
                "measures": d.pre.measures,
                "dimensions": d.pre.dimensions,
                "time_dimension": d.pre.time_dimension,
                "granularity": d.pre.granularity,
                "partition_granularity": d.pre.partition_granularity,
                "ready": ready is not None,
                "built_at": ready.built_at if ready else None,
                "rows": sum(p.row_count for p in parts)
                if parts
                else (ready.row_count if ready else 0),
                "partitions": [
                    {
                        "partition": p.partition,
                        "start": p.range_start,
                        "end": p.range_end,
                        "rows": p.row_count,
                        "built_at": p.built_at,
                    }
                    for p in parts
                ],
            }
        )
    return out
