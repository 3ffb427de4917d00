"""A plan → one SELECT, built as a sqlglot tree.

Without fan-out it is the plain ``SELECT dims, aggregates FROM root LEFT JOIN ... GROUP BY``.
When a one-to-many join multiplies a cube whose measures are asked for, those measures are
computed like Cube does: the distinct (dimensions, primary key) pairs of that cube are taken from
the joined rows (the keys subquery), joined back to the cube, and aggregated there; the pieces
are then put side by side per dimension tuple (a UNION ALL re-grouped by the dimensions, so
NULL dimension values match too)."""

from __future__ import annotations

from sqlglot import exp

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.exprs import ident, wrap
from tenantry.semantic.compiler.plan import Plan
from tenantry.semantic.schema.model import Measure


def _alias(expr: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=expr, alias=ident(name))


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def _aliased_source(plan: Plan, cube: str) -> exp.Expression:
    src = plan.exprs.source_for(cube)
    src.set("alias", exp.TableAlias(this=ident(cube)))
    return src


def _and(parts: list[exp.Expression]) -> exp.Expression:
    return exp.and_(*[wrap(p.copy()) for p in parts])


def joined_select(plan: Plan, selects: list[exp.Expression]) -> exp.Select:
    """SELECT ``selects`` FROM the join tree WHERE the plan's conditions."""
    sel = exp.Select(expressions=selects).from_(_aliased_source(plan, plan.tree.root), copy=False)
    model = plan.exprs.model
    for edge in plan.tree.edges:
        declared = model.cubes[edge.join.cube]
        where = f"the join {edge.join.cube} → {edge.join.target}"
        on = plan.exprs.snippet(declared, edge.join.sql, where, plan.exprs.row_member)
        sel.join(_aliased_source(plan, edge.child), on=on, join_type="left", copy=False)
    if plan.where:
        sel.where(_and(plan.where), copy=False)
    return sel


def _group(sel: exp.Select, count: int) -> None:
    if count:
        sel.set("group", exp.Group(expressions=[exp.Literal.number(i + 1) for i in range(count)]))


def _having(sel: exp.Select, plan: Plan, leaf) -> None:
    if plan.having:
        sel.set("having", exp.Having(this=_and([build(leaf) for build in plan.having])))


def _finish(sel: exp.Select, plan: Plan) -> exp.Select:
    if plan.order:
        sel.set(
            "order",
            exp.Order(
                expressions=[
                    exp.Ordered(this=_col(alias), desc=desc, nulls_first=desc)
                    for alias, desc in plan.order
                ]
            ),
        )
    sel.set("limit", exp.Limit(expression=exp.Literal.number(plan.query.limit)))
    if plan.query.offset:
        sel.set("offset", exp.Offset(expression=exp.Literal.number(plan.query.offset)))
    return sel


def _leaves(plan: Plan) -> list[Measure]:
    out: list[Measure] = []
    for m in [*(c.measure for c in plan.measures), *plan.having_measures]:
        for leaf in plan.measures_r.leaves(m):
            if leaf not in out:
                out.append(leaf)
    return out


def multiplied_leaves(plan: Plan) -> dict[str, list[Measure]]:
    """Leaf measures that a fan-out join inflates, by cube."""
    if plan.query.ungrouped:
        return {}
    fanned = plan.tree.multiplied()
    out: dict[str, list[Measure]] = {}
    for leaf in _leaves(plan):
        if leaf.cube in fanned and plan.measures_r.multipliable(leaf):
            out.setdefault(leaf.cube, []).append(leaf)
    for cube in out:
        if not plan.exprs.model.cubes[cube].primary_keys:
            raise QueryError(
                f"cube '{cube}' needs a primary key: its measures are multiplied by a "
                "one-to-many join in this query, and only a primary key lets them be counted once"
            )
    return out


def simple(plan: Plan) -> exp.Select:
    """One SELECT over the joined rows (also the ungrouped form)."""
    r = plan.measures_r
    ungrouped = plan.query.ungrouped
    leaf = r.ungrouped if ungrouped else r.aggregate
    selects = [_alias(d.expr.copy(), d.alias) for d in plan.dims]
    selects += [_alias(r.render(m.measure, leaf), m.alias) for m in plan.measures]
    sel = joined_select(plan, selects)
    if ungrouped:
        if plan.having:
            cond = _and([build(leaf) for build in plan.having])
            sel.where(cond, copy=False)
        return sel
    _group(sel, len(plan.dims))
    _having(sel, plan, leaf)
    return sel


def fanned(plan: Plan, by_cube: dict[str, list[Measure]]) -> exp.Select:
    r = plan.measures_r
    leaves = _leaves(plan)
    names = {leaf.path: f"__m{i}" for i, leaf in enumerate(leaves)}
    special = {leaf.path for group in by_cube.values() for leaf in group}
    dims = [_alias(d.expr.copy(), d.alias) for d in plan.dims]
    n = len(plan.dims)

    def null_except(keep: dict[str, exp.Expression]) -> list[exp.Expression]:
        return [_alias(keep.get(leaf.path, exp.Null()), names[leaf.path]) for leaf in leaves]

    # A branch that returns no rows but types every column (a NULL-only column would be text).
    template = joined_select(plan, dims + [_alias(r.aggregate(x), names[x.path]) for x in leaves])
    template.set("where", None)
    template.where(exp.false(), copy=False)
    _group(template, n)
    template.set("having", exp.Having(this=exp.false()))
    branches: list[exp.Expression] = [template]
    regular = {x.path: r.aggregate(x) for x in leaves if x.path not in special}
    if regular:
        sel = joined_select(plan, [d.copy() for d in dims] + null_except(regular))
        _group(sel, n)
        branches.append(sel)
    for cube_name, group in by_cube.items():
        cube = plan.exprs.model.cubes[cube_name]
        pks = plan.exprs.primary_keys(cube)
        pk_names = [f"__pk{i}" for i in range(len(pks))]
        pk_cols = [_alias(pk, nm) for pk, nm in zip(pks, pk_names, strict=True)]
        keys = joined_select(plan, [d.copy() for d in dims] + pk_cols)
        keys.set("distinct", exp.Distinct())
        keys_alias = f"__keys_{cube_name}"[:60]
        keyed = exp.Subquery(this=keys, alias=exp.TableAlias(this=ident(keys_alias)))
        on = exp.and_(
            *[
                exp.EQ(this=_col(nm, keys_alias), expression=pk.copy())
                for pk, nm in zip(plan.exprs.primary_keys(cube), pk_names, strict=True)
            ]
        )
        outputs = [_alias(_col(d.alias, keys_alias), d.alias) for d in plan.dims]
        aggs = {x.path: r.aggregate(x, multiplied=True) for x in group}
        sel = exp.Select(expressions=outputs + null_except(aggs)).from_(keyed, copy=False)
        sel.join(_aliased_source(plan, cube_name), on=on, join_type="left", copy=False)
        _group(sel, n)
        branches.append(sel)
    union = branches[0]
    for branch in branches[1:]:
        union = exp.Union(this=union, expression=branch, distinct=False)
    u = "__u"

    def leaf_col(leaf: Measure) -> exp.Expression:
        return exp.Max(this=_col(names[leaf.path], u))

    selects = [_alias(_col(d.alias, u), d.alias) for d in plan.dims]
    selects += [_alias(r.render(m.measure, leaf_col), m.alias) for m in plan.measures]
    source = exp.Subquery(this=union, alias=exp.TableAlias(this=ident(u)))
    outer = exp.Select(expressions=selects).from_(source, copy=False)
    _group(outer, n)
    _having(outer, plan, leaf_col)
    return outer


def body(plan: Plan) -> exp.Select:
    """The query without ORDER BY / LIMIT / OFFSET."""
    by_cube = multiplied_leaves(plan)
    return fanned(plan, by_cube) if by_cube else simple(plan)


def build(plan: Plan, dialect: str) -> tuple[str, str | None]:
    """(sql, total_sql)."""
    body_ = body(plan)
    total_sql = None
    if plan.query.total:
        counted = exp.Subquery(this=body_.copy(), alias=exp.TableAlias(this=ident("__total")))
        total = exp.Select(expressions=[_alias(exp.Count(this=exp.Star()), "total")])
        total = total.from_(counted, copy=False)
        total_sql = total.sql(dialect=dialect)
    return _finish(body_, plan).sql(dialect=dialect), total_sql
