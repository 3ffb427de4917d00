"""``compile_query``: one Cube query → ready-to-run SQL plus everything a response needs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tenantry.semantic.compiler import dates, result, sqlgen
from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.exprs import sqlglot_dialect
from tenantry.semantic.compiler.plan import Plan, Planner
from tenantry.semantic.compiler.query import FilterQ, LogicalQ, Query, parse_query
from tenantry.semantic.schema.model import DataModel, RefreshKey


@dataclass
class CompiledQuery:
    sql: str
    total_sql: str | None
    normalized: dict
    annotation: dict
    columns: list[tuple[str, str]]  # (sql alias, member key) in select order
    cubes: list[str]
    refresh_keys: list[RefreshKey]
    dialect: str
    column_types: dict[str, str] = field(default_factory=dict)  # alias → time|number|string|...
    also: dict[str, list[str]] = field(default_factory=dict)  # alias → further member keys
    used_pre_aggregation: str | None = None
    pre_aggregation_candidates: list[str] = field(default_factory=list)
    row_filter_members: list[str] = field(default_factory=list)  # access-policy filter members
    plan: Plan | None = field(default=None, repr=False, compare=False)


def _value_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return result.number_text(value)


def _filters(nodes: list[FilterQ | LogicalQ]) -> list[dict]:
    out = []
    for node in nodes:
        if isinstance(node, LogicalQ):
            out.append({node.op: _filters(node.items)})
        else:
            item: dict[str, Any] = {"member": node.member, "operator": node.operator}
            if node.values or node.operator not in ("set", "notSet", "measureFilter"):
                item["values"] = [_value_text(v) for v in node.values]
            out.append(item)
    return out


def normalized(q: Query, plan: Plan) -> dict[str, Any]:
    tds = []
    for i, td in enumerate(q.time_dimensions):
        item: dict[str, Any] = {"dimension": td.dimension}
        if td.granularity:
            item["granularity"] = td.granularity
        if i in plan.date_ranges:
            start, end = plan.date_ranges[i]
            item["dateRange"] = [dates.fmt(start), dates.fmt(end)]
        tds.append(item)
    out: dict[str, Any] = {
        "measures": list(q.measures),
        "dimensions": list(q.dimensions),
        "segments": list(q.segments),
        "timeDimensions": tds,
        "filters": _filters(q.filters),
        "order": [[member, direction] for member, direction in plan.order_members],
        "limit": q.limit,
        "timezone": q.timezone,
    }
    if q.given_offset:
        out["offset"] = q.offset
    if q.total:
        out["total"] = True
    if q.ungrouped:
        out["ungrouped"] = True
    out["rowLimit"] = q.limit
    out["queryType"] = q.query_type
    return out


def column_types(plan: Plan) -> dict[str, str]:
    types = {d.alias: ("time" if d.ref.type == "time" else d.ref.type) for d in plan.dims}
    types.update({m.alias: "number" for m in plan.measures})
    return types


def refresh_keys(model: DataModel, cubes: list[str]) -> list[RefreshKey]:
    """Each cube's refresh key; Cube's default for a cube without one is every 10 seconds."""
    out: list[RefreshKey] = []
    for name in cubes:
        key = model.cubes[name].refresh_key or RefreshKey(every=10.0)
        if key not in out:
            out.append(key)
    return out


def compile_query(
    model: DataModel,
    query: dict,
    *,
    context: SecurityContext,
    dialect: str = "duckdb",
    schemas: dict[str, str] | None = None,
    now: dt.datetime | None = None,
    rollups: dict[str, str] | None = None,
) -> CompiledQuery:
    """Compile one (expanded) Cube query. ``rollups`` maps built pre-aggregations (cube.name)
    to the tables holding them; a matching one is read instead of the raw tables."""
    q = parse_query(query)
    dialect = sqlglot_dialect(dialect)
    plan = Planner(model, q, context, dialect, schemas, now).build()
    compiled = CompiledQuery(
        sql="",
        total_sql=None,
        normalized=normalized(q, plan),
        annotation=result.annotation(model, plan),
        columns=[(d.alias, d.key) for d in plan.dims] + [(m.alias, m.key) for m in plan.measures],
        cubes=list(plan.cubes),
        refresh_keys=refresh_keys(model, plan.cubes),
        dialect=dialect,
        column_types=column_types(plan),
        also={d.alias: list(d.also) for d in plan.dims if d.also},
        row_filter_members=list(plan.row_filter_members),
        plan=plan,
    )
    from tenantry.semantic.compiler import preaggs

    served = None
    if model.has_pre_aggregations:
        served = preaggs.serve(model, compiled, rollups or {}, context=context, now=now)
    if served is None:
        for name in plan.cubes:  # `original_sql`: the cube's own SQL, materialized
            for pre in model.cubes[name].pre_aggregations.values():
                if pre.type == "original_sql" and pre.path in (rollups or {}):
                    plan.exprs.materialized[name] = rollups[pre.path]
                    compiled.used_pre_aggregation = compiled.used_pre_aggregation or pre.path
        compiled.sql, compiled.total_sql = sqlgen.build(plan, dialect)
    compiled.plan = None  # the trees are not needed once the SQL is written
    return compiled
