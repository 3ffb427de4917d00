"""Pre-aggregations, the compiler's side: the SELECT that builds a rollup table, Cube's matching
rules (which rollup can answer a query), and queries rewritten to read a matched rollup.

A rollup stores, per (dimensions, segments as booleans, time dimension truncated in UTC), each
*leaf* aggregate of its measures (a number measure is stored as the aggregates it is made of).
A query re-aggregates those rows: count and sum → SUM, min → MIN, max → MAX. Other aggregates
(avg, count_distinct, count_distinct_approx, raw number SQL) are served only by an exact match:
the same dimensions and granularity, so every query group is one rollup row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlglot import exp

from tenantry.semantic.compiler import dates, sqlgen
from tenantry.semantic.compiler.aggregates import Measures
from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.exprs import Exprs, ident, sqlglot_dialect
from tenantry.semantic.compiler.filters import DATE_OPERATORS, timestamp
from tenantry.semantic.compiler.joins import JoinTree
from tenantry.semantic.compiler.members import resolve
from tenantry.semantic.compiler.plan import DimCol, Plan, Planner
from tenantry.semantic.compiler.query import Query, TimeDimensionQ
from tenantry.semantic.schema.model import DataModel, Dimension, Measure, PreAggregation, Segment

REAGGREGATE = {"count": exp.Sum, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}
ROLLUP = "__rollup"


def _alias(path: str) -> str:
    return path.replace(".", "__").lower()


@dataclass
class RollupShape:
    pre: PreAggregation
    dimensions: list[str]  # cube.member paths
    segments: list[str]
    time_dimension: str | None
    granularity: str | None
    leaves: dict[str, Measure]  # leaf path → measure
    fanned: set[str]  # cubes whose measures the rollup's own joins multiply
    columns: dict[str, str]  # member key (path, or td path.granularity) → column alias


def _rollup_plan(model: DataModel, pre: PreAggregation, dialect: str, schemas) -> Plan:
    exprs = Exprs(model, dialect, schemas)
    measures = Measures(exprs)
    leaves: list[Measure] = []
    for path in pre.measures:
        cube, name = path.split(".")
        for leaf in measures.leaves(model.cubes[cube].measures[name]):
            if leaf not in leaves:
                leaves.append(leaf)
    query = Query(
        measures=[m.path for m in leaves],
        dimensions=list(pre.dimensions),
        order=[],
    )
    if pre.time_dimension:
        query.time_dimensions = [TimeDimensionQ(pre.time_dimension, pre.granularity, None)]
    if not (query.measures or query.dimensions or query.time_dimensions):
        raise QueryError(f"pre-aggregation {pre.path} has no measures or dimensions")
    planner = Planner(
        model, query, SecurityContext(), dialect, schemas, None, secure=False, exprs=exprs
    )
    planner.measures_r = measures
    plan = planner.build()
    for path in pre.segments:
        ref = resolve(model, path, where="segments", kinds=("segment",), public_only=False)
        seg = ref.member
        plan.dims.append(DimCol(planner.alias(_alias(path)), path, ref, exprs.segment(seg)))
    return plan


_SHAPES: dict[tuple[int, str], tuple[DataModel, RollupShape]] = {}


def shape(model: DataModel, pre: PreAggregation) -> RollupShape:
    """What a rollup holds (cached per model object)."""
    key = (id(model), pre.path)
    found = _SHAPES.get(key)
    if found is not None and found[0] is model:
        return found[1]
    if len(_SHAPES) > 1024:
        _SHAPES.clear()
    made = _shape(model, pre)
    _SHAPES[key] = (model, made)
    return made


def _shape(model: DataModel, pre: PreAggregation) -> RollupShape:
    plan = _rollup_plan(model, pre, "duckdb", None)
    fanned = plan.tree.multiplied()
    return RollupShape(
        pre=pre,
        dimensions=list(pre.dimensions),
        segments=list(pre.segments),
        time_dimension=pre.time_dimension,
        granularity=pre.granularity,
        leaves={m.key: m.measure for m in plan.measures},
        fanned={c for c in fanned if any(m.measure.cube == c for m in plan.measures)},
        columns={**{d.key: d.alias for d in plan.dims}, **{m.key: m.alias for m in plan.measures}},
    )


def rollup_select(
    model: DataModel,
    pre: PreAggregation,
    *,
    dialect: str = "duckdb",
    schemas: dict[str, str] | None = None,
    context_free: bool = True,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> tuple[str, list[tuple[str, str]]]:
    """(SELECT building the rollup, [(column, member key)]). Built for every caller at once:
    access policies are applied when the rollup is read, never baked in. ``window`` keeps the
    rows whose time dimension (UTC) is in ``[start, end)`` — one partition."""
    dialect = sqlglot_dialect(dialect)
    if pre.type == "original_sql":
        cube = model.cubes[pre.cube]
        src = Exprs(model, dialect, schemas).source(cube)
        sel = exp.select(exp.Star()).from_(
            exp.Subquery(this=src.this, alias=exp.TableAlias(this=ident(cube.name)))
            if isinstance(src, exp.Subquery)
            else src.as_(cube.name),
            copy=False,
        )
        return sel.sql(dialect=dialect), []
    plan = _rollup_plan(model, pre, dialect, schemas)
    if window is not None:
        if not pre.time_dimension:
            raise QueryError(f"pre-aggregation {pre.path} has no time dimension to partition")
        cube, name = pre.time_dimension.split(".")
        td = plan.exprs.dimension(model.cubes[cube].dimensions[name])
        local = exp.cast(td, exp.DataType.build("TIMESTAMP"))
        plan.where.append(exp.GTE(this=local, expression=timestamp(window[0])))
        plan.where.append(exp.LT(this=local.copy(), expression=timestamp(window[1])))
    body = sqlgen.body(plan)
    columns = [(d.alias, d.key) for d in plan.dims] + [(m.alias, m.key) for m in plan.measures]
    return body.sql(dialect=dialect), columns


# -- matching ------------------------------------------------------------------------------


def _cube_path(model: DataModel, name: str) -> str | None:
    head, _, tail = name.partition(".")
    view = model.views.get(head)
    if view is not None:
        vm = view.members.get(tail)
        return vm.target if vm else None
    return name if head in model.cubes else None


def _flat_filters(filters) -> list[dict]:
    out = []
    for f in filters or []:
        if "or" in f or "and" in f:
            out += _flat_filters(f.get("or") or f.get("and"))
        else:
            out.append(f)
    return out


def _aligned(start: dt.datetime, end: dt.datetime, granularity: str) -> bool:
    """Does [start, end] cover whole rollup rows? (ends are shown to the millisecond)"""
    after = end.replace(microsecond=end.microsecond // 1000 * 1000) + dt.timedelta(milliseconds=1)
    whole = dates.truncate(start, granularity) == start
    return whole and dates.truncate(after, granularity) == after


def _leaves_of(model: DataModel, path: str) -> list[Measure] | None:
    cube, name = path.split(".")
    measure = model.cubes[cube].measures.get(name)
    if measure is None:
        return None
    return Measures(Exprs(model, "duckdb", None)).leaves(measure)


def match(
    model: DataModel,
    query: dict,
    pre_list: list[PreAggregation],
    *,
    row_filter_members: list[str] | tuple[str, ...] = (),
) -> PreAggregation | None:
    """The first rollup of ``pre_list`` that answers the normalized ``query`` exactly as the raw
    tables would (Cube's rules; see the module docstring)."""
    if query.get("ungrouped") or (query.get("timezone") or "UTC") != "UTC":
        return None
    measures = [_cube_path(model, m) for m in query.get("measures") or []]
    dimensions = [_cube_path(model, d) for d in query.get("dimensions") or []]
    segments = [_cube_path(model, s) for s in query.get("segments") or []]
    tds = [(_cube_path(model, t["dimension"]), t) for t in query.get("timeDimensions") or []]
    filters = _flat_filters(query.get("filters"))
    if None in measures + dimensions + segments or any(p is None for p, _ in tds):
        return None
    for pre in pre_list:
        if pre.type != "rollup":
            continue
        try:
            found = _match_one(model, pre, measures, dimensions, segments, tds, filters)
        except QueryError:  # a rollup this compiler cannot build never serves
            continue
        if found and all(m in pre.dimensions for m in row_filter_members):
            return pre
    return None


def _match_one(model, pre, measures, dimensions, segments, tds, filters) -> bool:
    s = shape(model, pre)
    if not set(dimensions) <= set(s.dimensions) or not set(segments) <= set(s.segments):
        return False
    granularities = set()
    for path, td in tds:
        if path != s.time_dimension:
            return False
        if td.get("granularity"):
            if not dates.coarser_or_equal(td["granularity"], s.granularity):
                return False
            granularities.add(td["granularity"])
        if td.get("dateRange"):
            start, end = (dt.datetime.fromisoformat(v) for v in td["dateRange"])
            if not _aligned(start, end, s.granularity):
                return False
    filter_measures = []
    for f in filters:
        path = _cube_path(model, f["member"])
        if path is None or f["operator"] in DATE_OPERATORS or f["operator"] == "measureFilter":
            return False
        head, tail = path.split(".")
        if tail in model.cubes[head].measures:
            filter_measures.append(path)
        elif path not in s.dimensions:
            return False
    exact = set(dimensions) == set(s.dimensions) and (
        granularities == ({s.granularity} if s.time_dimension else set())
    )
    for path in measures + filter_measures:
        leaves = _leaves_of(model, path)
        if leaves is None:
            return False
        for leaf in leaves:
            if leaf.path not in s.leaves:
                return False
            additive = leaf.type in REAGGREGATE and leaf.cube not in s.fanned
            if not additive and not exact:
                return False
    return True


# -- reading a rollup ----------------------------------------------------------------------


class RollupExprs(Exprs):
    """Members read from the rollup table's columns."""

    def __init__(self, model, dialect, schemas, table: str, rollup: RollupShape):
        super().__init__(model, dialect, schemas)
        self.table = table
        self.rollup = rollup

    def _column(self, key: str) -> exp.Column:
        alias = self.rollup.columns.get(key)
        if alias is None:
            raise QueryError(f"{key} is not in pre-aggregation {self.rollup.pre.path}")
        return exp.Column(this=ident(alias), table=ident(ROLLUP))

    def dimension(self, dim: Dimension) -> exp.Expression:
        if dim.path not in self.rollup.columns and dim.path == self.rollup.time_dimension:
            return self._column(f"{dim.path}.{self.rollup.granularity}")
        return self._column(dim.path)

    def segment(self, seg: Segment) -> exp.Expression:
        return self._column(seg.path)

    def source_for(self, name: str) -> exp.Expression:
        return exp.to_table(self.table, dialect=self.dialect)


class RollupMeasures(Measures):
    def __init__(self, exprs: RollupExprs):
        super().__init__(exprs)
        self.rollup = exprs.rollup

    def aggregate(self, measure: Measure, *, multiplied: bool = False) -> exp.Expression:
        column = self.exprs._column(measure.path)  # type: ignore[attr-defined]
        cls = REAGGREGATE.get(measure.type) if measure.cube not in self.rollup.fanned else None
        return (cls or exp.Max)(this=column)


def serve(
    model: DataModel,
    compiled,
    rollups: dict[str, str],
    *,
    context: SecurityContext,
    now: dt.datetime | None,
) -> str | None:
    """Fill ``compiled`` from a matching built rollup; returns its path (or None)."""
    plan: Plan = compiled.plan
    candidates = [
        pre
        for name in plan.cubes
        for pre in model.cubes[name].pre_aggregations.values()
        if pre.type == "rollup"
    ]
    compiled.pre_aggregation_candidates = [p.path for p in candidates]
    pre = match(
        model,
        compiled.normalized,
        candidates,
        row_filter_members=compiled.row_filter_members,
    )
    if pre is None or pre.path not in rollups:
        return None
    rollup = shape(model, pre)
    exprs = RollupExprs(model, plan.exprs.dialect, plan.exprs.schemas, rollups[pre.path], rollup)
    planner = Planner(
        model,
        plan.query,
        context,
        plan.exprs.dialect,
        plan.exprs.schemas,
        now,
        exprs=exprs,
        measures=RollupMeasures(exprs),
    )
    reading = planner.build()
    reading.tree = JoinTree(ROLLUP)
    compiled.sql, compiled.total_sql = sqlgen.build(reading, plan.exprs.dialect)
    compiled.used_pre_aggregation = pre.path
    return pre.path


__all__ = ["RollupShape", "match", "rollup_select", "serve", "shape"]
