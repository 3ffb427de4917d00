"""A checked query → a plan: resolved members, output columns, WHERE/HAVING conditions (user
filters, segments, date ranges, row-level security), order, and the join tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from tenantry.semantic.compiler import dates
from tenantry.semantic.compiler.access import Access
from tenantry.semantic.compiler.aggregates import Measures
from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.exprs import Exprs, wrap
from tenantry.semantic.compiler.filters import Filters, timestamp
from tenantry.semantic.compiler.joins import JoinTree, plan
from tenantry.semantic.compiler.members import Ref, resolve
from tenantry.semantic.compiler.query import (
    MEMBER_WITH_GRANULARITY,
    FilterQ,
    LogicalQ,
    Query,
)
from tenantry.semantic.schema.model import DataModel, Measure, RowFilter

MAX_ALIAS = 60


@dataclass
class DimCol:
    alias: str
    key: str  # the member key in result rows
    ref: Ref
    expr: exp.Expression  # row-level SQL (time: in the query's zone, truncated)
    granularity: str | None = None
    also: list[str] = field(default_factory=list)  # further keys with the same value
    time_dimension: bool = False  # came from timeDimensions


@dataclass
class MeasureCol:
    alias: str
    key: str
    ref: Ref

    @property
    def measure(self) -> Measure:
        return self.ref.member  # type: ignore[return-value]


@dataclass
class Resolved:
    """A filter tree with its members resolved."""

    node: FilterQ | LogicalQ
    refs: dict[int, Ref]  # id(FilterQ) → Ref


@dataclass
class Plan:
    query: Query
    exprs: Exprs
    measures_r: Measures
    dims: list[DimCol]
    measures: list[MeasureCol]
    where: list[exp.Expression]
    having: list[Callable[[Callable[[Measure], exp.Expression]], exp.Expression]]
    having_measures: list[Measure]
    order: list[tuple[str, bool]]  # (alias, desc)
    order_members: list[tuple[str, str]]  # (member key, asc|desc) for the normalized query
    tree: JoinTree
    refs: list[Ref]
    date_ranges: dict[int, tuple[dt.datetime, dt.datetime]]  # timeDimensions index → range
    row_filter_members: list[str] = field(default_factory=list)  # cube.member paths

    @property
    def cubes(self) -> list[str]:
        return self.tree.cubes


class Planner:
    def __init__(
        self,
        model: DataModel,
        query: Query,
        context: SecurityContext,
        dialect: str,
        schemas: dict[str, str] | None,
        now: dt.datetime | None,
        *,
        secure: bool = True,
        exprs: Exprs | None = None,
        measures: Measures | None = None,
    ):
        """``secure=False`` (building a shared rollup) skips access policies and also reaches
        non-public members; ``exprs``/``measures`` replace how members become SQL."""
        self.model = model
        self.q = query
        self.secure = secure
        self.access = Access(model, context)
        self.exprs = exprs or Exprs(model, dialect, schemas)
        self.measures_r = measures or Measures(self.exprs)
        self.filters = Filters(query.timezone, now)
        self.now = now
        self.aliases: set[str] = set()
        self.refs: list[Ref] = []

    # -- helpers -------------------------------------------------------------------------

    def alias(self, base: str) -> str:
        base = base.lower()[:MAX_ALIAS]
        name, n = base, 1
        while name in self.aliases:
            n += 1
            name = f"{base[: MAX_ALIAS - 4]}_{n}"
        self.aliases.add(name)
        return name

    def local_time(self, expr: exp.Expression) -> exp.Expression:
        """A time value as a timestamp in the query's zone (stored values are UTC)."""
        if self.q.timezone == "UTC":
            return exp.cast(expr, exp.DataType.build("TIMESTAMP"))
        tz_ts = exp.cast(expr, exp.DataType.build("TIMESTAMPTZ"))
        return exp.AtTimeZone(this=tz_ts, zone=exp.Literal.string(self.q.timezone))

    def value_expr(self, ref: Ref) -> exp.Expression:
        """A dimension's row-level SQL (time dimensions in the query's zone)."""
        expr = self.exprs.dimension(ref.member)  # type: ignore[arg-type]
        return self.local_time(expr) if ref.type == "time" else expr

    def resolve(self, name: str, where: str, kinds=None) -> Ref:
        ref = resolve(self.model, name, where=where, kinds=kinds, public_only=self.secure)
        if self.secure:
            self.access.check_member(ref.cube, ref.member.name, name)
        self.refs.append(ref)
        return ref

    # -- the plan ------------------------------------------------------------------------

    def build(self) -> Plan:
        q = self.q
        measures = [
            self.resolve(n, f"measures[{i}]", ("measure",)) for i, n in enumerate(q.measures)
        ]
        dims: list[DimCol] = []
        for i, name in enumerate(q.dimensions):
            dims.append(self._dimension(name, f"dimensions[{i}]"))
        segments = [
            self.resolve(n, f"segments[{i}]", ("segment",)) for i, n in enumerate(q.segments)
        ]
        where: list[exp.Expression] = [self.exprs.segment(s.member) for s in segments]
        date_ranges = {}
        bare_keys = {d.key for d in dims}
        for i, td in enumerate(q.time_dimensions):
            ref = self.resolve(td.dimension, f"{td.field}.dimension", ("dimension",))
            if ref.type != "time":
                raise QueryError(
                    f"{td.field}.dimension: '{td.dimension}' is a {ref.type} dimension; "
                    "timeDimensions need a time dimension",
                    field=f"{td.field}.dimension",
                )
            local = self.value_expr(ref)
            if td.date_range is not None:
                start, end = dates.resolve_range(
                    td.date_range, q.timezone, self.now, f"{td.field}.dateRange"
                )
                date_ranges[i] = (start, end)
                where.append(
                    exp.and_(
                        exp.GTE(this=local.copy(), expression=timestamp(start)),
                        exp.LTE(this=local.copy(), expression=timestamp(end)),
                    )
                )
            if td.granularity:
                col = self._time_col(ref, td.granularity, local)
                col.time_dimension = True
                if ref.name not in bare_keys:
                    col.also.append(ref.name)
                    bare_keys.add(ref.name)
                dims.append(col)
        mcols = [MeasureCol(self.alias(m.name.replace(".", "__")), m.name, m) for m in measures]
        having, having_measures = [], []
        for f in q.filters:
            resolved = self._resolve_filter(f)
            if self._has_measure(resolved, f):
                having.append(self._having(resolved))
                having_measures += [r.member for r in resolved.refs.values() if r.kind == "measure"]
            else:
                where.append(self._condition(resolved, f, self._where_expr))
        order, order_members = self._order(dims, mcols)
        # Render once so every cube the SQL touches is known before joins are planned.
        for m in [*(r.member for r in measures), *having_measures]:
            self.measures_r.render(m, self.measures_r.aggregate)
        tree, row_members = self._join_and_secure(where)
        return Plan(
            query=q,
            exprs=self.exprs,
            measures_r=self.measures_r,
            dims=dims,
            measures=mcols,
            where=where,
            having=having,
            having_measures=having_measures,
            order=order,
            order_members=order_members,
            tree=tree,
            refs=self.refs,
            date_ranges=date_ranges,
            row_filter_members=row_members,
        )

    def _dimension(self, name: str, where: str) -> DimCol:
        ref = self.resolve(name, where, ("dimension",))
        return DimCol(self.alias(name.replace(".", "__")), name, ref, self.value_expr(ref))

    def _time_col(self, ref: Ref, granularity: str, local: exp.Expression) -> DimCol:
        key = f"{ref.name}.{granularity}"
        trunc = exp.TimestampTrunc(this=local, unit=exp.var(granularity.upper()))
        alias = self.alias(f"{ref.name.replace('.', '__')}_{granularity}")
        return DimCol(alias, key, ref, trunc, granularity)

    # -- filters -------------------------------------------------------------------------

    def _resolve_filter(self, node: FilterQ | LogicalQ, refs=None) -> Resolved:
        refs = {} if refs is None else refs
        if isinstance(node, LogicalQ):
            for item in node.items:
                self._resolve_filter(item, refs)
        else:
            where = f"{node.field}.member"
            kinds = ("measure",) if node.operator == "measureFilter" else ("dimension", "measure")
            refs[id(node)] = self.resolve(node.member, where, kinds)
        return Resolved(node, refs)

    def _has_measure(self, resolved: Resolved, node) -> bool:
        """Does this filter (group) belong in HAVING? A group may not mix the two kinds."""
        kinds = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, LogicalQ):
                stack += n.items
                continue
            ref = resolved.refs[id(n)]
            aggregate = ref.kind == "measure" and n.operator != "measureFilter"
            kinds.add("measure" if aggregate else "dimension")
        if len(kinds) > 1:
            raise QueryError(
                f"{node.field}: a filter group cannot mix dimensions and measures",
                field=node.field,
            )
        return kinds == {"measure"}

    def _where_expr(self, ref: Ref) -> exp.Expression:
        return self.value_expr(ref)

    def _condition(self, resolved: Resolved, node, member_expr) -> exp.Expression:
        if isinstance(node, LogicalQ):
            parts = [self._condition(resolved, n, member_expr) for n in node.items]
            if not parts:
                return exp.true()
            joined = exp.and_(*map(wrap, parts)) if node.op == "and" else exp.or_(*map(wrap, parts))
            return exp.Paren(this=joined)
        ref = resolved.refs[id(node)]
        if node.operator == "measureFilter":
            cond = self.exprs.measure_filter(ref.member)  # type: ignore[arg-type]
            return cond if cond is not None else exp.true()
        kind = "number" if ref.kind == "measure" else ref.type
        return self.filters.condition(
            member_expr(ref),
            member=ref.name,
            kind=kind,
            operator=node.operator,
            values=node.values,
            where=node.field,
        )

    def _having(self, resolved: Resolved):
        def build(leaf) -> exp.Expression:
            def member_expr(ref: Ref) -> exp.Expression:
                return self.measures_r.render(ref.member, leaf)  # type: ignore[arg-type]

            return self._condition(resolved, resolved.node, member_expr)

        return build

    # -- order ---------------------------------------------------------------------------

    def _order(self, dims: list[DimCol], mcols: list[MeasureCol]):
        by_key: dict[str, str] = {}
        for col in [*dims, *mcols]:
            by_key.setdefault(col.key, col.alias)
            for extra in getattr(col, "also", []):
                by_key.setdefault(extra, col.alias)
        q = self.q
        if q.order is None:
            tds = [d for d in dims if d.time_dimension]
            if tds:
                pairs = [(tds[0].key, "asc")]
            elif mcols:
                pairs = [(mcols[0].key, "desc")]
            elif dims:
                pairs = [(dims[0].key, "asc")]
            else:
                pairs = []
        else:
            pairs = q.order
        out = []
        for name, direction in pairs:
            if name not in by_key:
                base = name
                match = MEMBER_WITH_GRANULARITY.match(name) if name.count(".") == 2 else None
                if match:
                    base = match.group(1)
                self.resolve(base, "order", None)  # unknown or forbidden members fail first
                raise QueryError(
                    f"order: '{name}' is not one of the query's measures, dimensions or time "
                    "dimensions",
                    field="order",
                )
            out.append((by_key[name], direction == "desc"))
        return out, list(pairs)

    # -- joins and row-level security ----------------------------------------------------

    def _join_and_secure(self, where: list[exp.Expression]):
        views = {r.view.name for r in self.refs if r.view is not None}
        if len(views) > 1:
            raise QueryError(
                "members of several views cannot be queried together: " + ", ".join(sorted(views))
            )
        view_paths = [r.join_path for r in self.refs if r.join_path]
        wanted: list[str] = []
        for cube in [*(r.cube.name for r in self.refs), *self.exprs.cubes]:
            if cube not in wanted:
                wanted.append(cube)
        secured: set[str] = set()
        row_members: list[str] = []
        while True:
            tree = plan(self.model, wanted, view_paths or None)
            pending = [c for c in tree.cubes if c not in secured]
            if not pending:
                return tree, row_members
            for name in pending:
                secured.add(name)
                cube = self.model.cubes[name]
                groups = self.access.row_policies(cube) if self.secure else None
                if groups is None:
                    continue
                ors = []
                for group in groups:
                    ands = [self._row_filter(cube, f, row_members) for f in group]
                    ors.append(exp.and_(*map(wrap, ands)) if ands else exp.true())
                where.append(exp.Paren(this=exp.or_(*map(wrap, ors))))
            for cube in self.exprs.cubes:
                if cube not in wanted:
                    wanted.append(cube)

    def _row_filter(self, cube, f: RowFilter, members: list[str]) -> exp.Expression:
        if f.and_ or f.or_:
            parts = [self._row_filter(cube, x, members) for x in (f.and_ or f.or_)]
            if not parts:
                return exp.true()
            joined = exp.and_(*map(wrap, parts)) if f.and_ else exp.or_(*map(wrap, parts))
            return exp.Paren(this=joined)
        head, _, tail = (f.member or "").partition(".")
        target = self.model.cubes.get(head)
        member = target.dimensions.get(tail) if target else None
        if member is None:
            raise QueryError(f"access policy of {cube.name}: '{f.member}' is not a dimension")
        if f.member not in members:
            members.append(f.member)
        ref = Ref(f.member, target, member, "dimension")
        values = self.access.values(cube, f.values)
        return self.filters.condition(
            self.value_expr(ref),
            member=f.member,
            kind=member.type,
            operator=f.operator or "equals",
            values=values,
            where=f"access policy of {cube.name}",
        )
