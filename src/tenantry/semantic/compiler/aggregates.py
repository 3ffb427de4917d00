"""Measures → SQL: the aggregate of each measure, ``number`` measures as expressions over other
measures (resolved recursively), and the un-aggregated form of an ungrouped query."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.exprs import Exprs, wrap
from tenantry.semantic.schema.model import Cube, Dimension, Measure
from tenantry.semantic.schema.refs import references

LeafFn = Callable[[Measure], exp.Expression]
# Measures a fan-out join would inflate (count_distinct is immune: duplicates count once).
MULTIPLIABLE = ("count", "sum", "avg", "min", "max", "number")


def _case(cond: exp.Expression | None, value: exp.Expression) -> exp.Expression:
    if cond is None:
        return value
    return exp.Case(ifs=[exp.If(this=cond, true=value)])


class Measures:
    def __init__(self, exprs: Exprs):
        self.exprs = exprs
        self.model = exprs.model

    def _cube(self, measure: Measure) -> Cube:
        return self.model.cubes[measure.cube]

    def children(self, measure: Measure) -> list[Measure]:
        """The measures a number measure's SQL names (empty for every other measure)."""
        if measure.type != "number" or not measure.sql:
            return []
        refs = references(measure.sql)
        cube = self._cube(measure)
        out = []
        for ref in refs:
            head, _, tail = ref.partition(".")
            target, name = (
                (cube, head)
                if not tail
                else (
                    cube if head == "CUBE" else self.model.cubes.get(head),
                    tail,
                )
            )
            if target is not None and name in target.measures:
                m = target.measures[name]
                if m not in out:
                    out.append(m)
        return out

    def leaves(self, measure: Measure, _stack: tuple[str, ...] = ()) -> list[Measure]:
        """The aggregates a measure is computed from (itself, unless it is a number measure)."""
        if measure.path in _stack:
            chain = " → ".join([*_stack[_stack.index(measure.path) :], measure.path])
            raise QueryError(f"measure {measure.path} refers to itself ({chain})")
        kids = self.children(measure)
        if not kids:
            return [measure]
        out: list[Measure] = []
        for kid in kids:
            for leaf in self.leaves(kid, (*_stack, measure.path)):
                if leaf not in out:
                    out.append(leaf)
        return out

    def render(self, measure: Measure, leaf: LeafFn) -> exp.Expression:
        """The measure's value, its aggregates supplied by ``leaf``."""
        self.leaves(measure)  # cycle check
        return self._render(measure, leaf)

    def _render(self, measure: Measure, leaf: LeafFn) -> exp.Expression:
        if not self.children(measure):
            return leaf(measure)

        def member(cube: Cube, name: str) -> exp.Expression:
            found = cube.member(name)
            if isinstance(found, Measure):
                return self._render(found, leaf)
            if isinstance(found, Dimension):
                return self.exprs.dimension(found)
            return self.exprs.row_member(cube, name)

        return self.exprs.snippet(self._cube(measure), measure.sql, measure.path, member)

    def aggregate(self, measure: Measure, *, multiplied: bool = False) -> exp.Expression:
        """The aggregate of a leaf measure over the joined rows."""
        if measure.type == "number":
            return self.exprs.snippet(
                self._cube(measure), measure.sql, measure.path, self.exprs.row_member
            )
        arg = self.exprs.measure_arg(measure)
        cond = self.exprs.measure_filter(measure)
        kind = measure.type
        if kind == "count":
            if arg is None:
                pks = self.exprs.primary_keys(self._cube(measure))
                arg = pks[0] if pks else None
            if arg is None:
                if cond is None:
                    return exp.Count(this=exp.Star())
                return exp.Count(this=_case(cond, exp.Literal.number(1)))
            return exp.Count(this=_case(cond, arg))
        value = _case(cond, arg)
        if kind == "count_distinct" or (
            kind == "count_distinct_approx" and self.exprs.dialect != "duckdb"
        ):
            return exp.Count(this=exp.Distinct(expressions=[value]))
        if kind == "count_distinct_approx":
            return exp.ApproxDistinct(this=value)
        cls = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[kind]
        return cls(this=value)

    def ungrouped(self, measure: Measure) -> exp.Expression:
        """A leaf measure's value on one row (ungrouped queries)."""
        if measure.type == "number":
            return self.aggregate(measure)
        cond = self.exprs.measure_filter(measure)
        arg = self.exprs.measure_arg(measure)
        if measure.type == "count" and arg is None:
            one = exp.Literal.number(1)
            if cond is None:
                return one
            return exp.Case(ifs=[exp.If(this=cond, true=one)], default=exp.Literal.number(0))
        return _case(cond, wrap(arg))

    def multipliable(self, measure: Measure) -> bool:
        return measure.type in MULTIPLIABLE
