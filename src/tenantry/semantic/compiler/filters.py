"""Filter operators → sqlglot conditions. Every user value becomes a typed literal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from tenantry.semantic.compiler import dates
from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.compiler.exprs import wrap

ESCAPE = "!"
PATTERNS = {
    "contains": ("%", "%", False),
    "notContains": ("%", "%", True),
    "startsWith": ("", "%", False),
    "notStartsWith": ("", "%", True),
    "endsWith": ("%", "", False),
    "notEndsWith": ("%", "", True),
}
DATE_OPERATORS = {
    "inDateRange",
    "notInDateRange",
    "onTheDate",
    "beforeDate",
    "beforeOrOnDate",
    "afterDate",
    "afterOrOnDate",
}
COMPARISONS = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}


def timestamp(value: dt.datetime) -> exp.Expression:
    return exp.cast(exp.Literal.string(dates.sql_literal(value)), exp.DataType.build("TIMESTAMP"))


def _or(parts: list[exp.Expression]) -> exp.Expression:
    return parts[0] if len(parts) == 1 else exp.Paren(this=exp.or_(*parts))


def _escape_like(value: str) -> str:
    return value.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


class Filters:
    def __init__(self, tz: str, now: dt.datetime | None):
        self.tz = tz
        self.now = now

    def literal(self, value: Any, kind: str, member: str, where: str) -> exp.Expression:
        """``value`` as a literal of the member's type; a value that is not → ``QueryError``."""
        if kind == "number":
            try:
                if isinstance(value, bool):
                    raise InvalidOperation
                number = Decimal(str(value).strip())
                if not number.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                raise QueryError(
                    f"{where}: {value!r} is not a number; {member} is a number member",
                    field=where,
                ) from None
            text = format(number, "f")
            if number < 0:
                return exp.Neg(this=exp.Literal.number(text[1:]))
            return exp.Literal.number(text)
        if kind == "boolean":
            text = str(value).strip().lower()
            if text in ("true", "1"):
                return exp.true()
            if text in ("false", "0"):
                return exp.false()
            raise QueryError(
                f"{where}: {value!r} is not true or false; {member} is a boolean member",
                field=where,
            )
        if kind == "time":
            return timestamp(self.instant(value, member, where, end=False))
        if isinstance(value, bool):
            value = "true" if value else "false"
        return exp.Literal.string(str(value))

    def instant(self, value: Any, member: str, where: str, *, end: bool) -> dt.datetime:
        try:
            return dates.parse_instant(str(value), self.tz, end=end)
        except (ValueError, OverflowError):
            raise QueryError(
                f"{where}: {value!r} is not a date or timestamp for {member}", field=where
            ) from None

    def condition(
        self,
        expr: exp.Expression,
        *,
        member: str,
        kind: str,
        operator: str,
        values: list[Any],
        where: str,
    ) -> exp.Expression:
        """``expr`` is the member's SQL (for time members: already in the query's zone)."""
        expr = wrap(expr)
        if operator in DATE_OPERATORS:
            if kind != "time":
                raise QueryError(
                    f"{where}: '{operator}' needs a time member; {member} is a {kind} member",
                    field=where,
                )
            return self._dates(expr, member, operator, values, where)
        if operator == "set":
            return exp.Not(this=exp.Is(this=expr, expression=exp.Null()))
        if operator == "notSet":
            return exp.Is(this=expr, expression=exp.Null())
        if operator in PATTERNS:
            return self._pattern(expr, member, kind, operator, values, where)
        if operator in COMPARISONS:
            present = [v for v in values if v is not None]
            if not present:
                raise QueryError(f"{where}: '{operator}' on {member} needs a value", field=where)
            value = self.literal(present[0], kind, member, where)
            return COMPARISONS[operator](this=expr, expression=value)
        if operator in ("equals", "in", "notEquals", "notIn"):
            return self._equality(expr, member, kind, operator, values, where)
        raise QueryError(f"{where}: '{operator}' cannot be used on {member}", field=where)

    def _equality(self, expr, member, kind, operator, values, where) -> exp.Expression:
        present = [self.literal(v, kind, member, where) for v in values if v is not None]
        has_null = any(v is None for v in values)
        negate = operator in ("notEquals", "notIn")
        if not present:
            if has_null:
                null = exp.Is(this=expr, expression=exp.Null())
                return exp.Not(this=null) if negate else null
            return exp.true() if negate else exp.false()
        if len(present) == 1:
            test = (exp.NEQ if negate else exp.EQ)(this=expr.copy(), expression=present[0])
        else:
            test = exp.In(this=expr.copy(), expressions=present)
            if negate:
                test = exp.Not(this=test)
        null = exp.Is(this=expr.copy(), expression=exp.Null())
        if negate:
            # Cube keeps NULLs out of 'equals' and in 'notEquals' (unless null is a value).
            if has_null:
                return exp.Paren(this=exp.and_(test, exp.Not(this=null)))
            return exp.Paren(this=exp.or_(test, null))
        return exp.Paren(this=exp.or_(test, null)) if has_null else test

    def _pattern(self, expr, member, kind, operator, values, where) -> exp.Expression:
        before, after, negate = PATTERNS[operator]
        present = [v for v in values if v is not None]
        if not present:
            raise QueryError(f"{where}: '{operator}' on {member} needs a value", field=where)
        target = expr if kind == "string" else exp.cast(expr, exp.DataType.build("VARCHAR"))
        parts = []
        for value in present:
            if isinstance(value, bool):
                value = "true" if value else "false"
            pattern = exp.Literal.string(before + _escape_like(str(value)) + after)
            like = exp.Escape(
                this=exp.ILike(this=target.copy(), expression=pattern),
                expression=exp.Literal.string(ESCAPE),
            )
            parts.append(exp.Not(this=like) if negate else like)
        if not negate:
            return _or(parts)
        null = exp.Is(this=target.copy(), expression=exp.Null())
        return exp.Paren(this=exp.or_(exp.and_(*parts), null))

    def _dates(self, expr, member, operator, values, where) -> exp.Expression:
        present = [v for v in values if v is not None]
        if not present:
            raise QueryError(f"{where}: '{operator}' on {member} needs a date", field=where)
        if operator in ("inDateRange", "notInDateRange"):
            raw = present[0] if len(present) == 1 else present[:2]
            start, end = dates.resolve_range(raw, self.tz, self.now, where)
            if operator == "inDateRange":
                return exp.and_(
                    exp.GTE(this=expr.copy(), expression=timestamp(start)),
                    exp.LTE(this=expr.copy(), expression=timestamp(end)),
                )
            return exp.Paren(
                this=exp.or_(
                    exp.LT(this=expr.copy(), expression=timestamp(start)),
                    exp.GT(this=expr.copy(), expression=timestamp(end)),
                )
            )
        if operator == "onTheDate":
            day = dates.truncate(self.instant(present[0], member, where, end=False), "day")
            start, end = dates.unit_range(day, "day")
            return exp.and_(
                exp.GTE(this=expr.copy(), expression=timestamp(start)),
                exp.LTE(this=expr.copy(), expression=timestamp(end)),
            )
        end = operator in ("beforeOrOnDate", "afterDate")
        bound = timestamp(self.instant(present[0], member, where, end=end))
        cls = {
            "beforeDate": exp.LT,
            "beforeOrOnDate": exp.LTE,
            "afterDate": exp.GT,
            "afterOrOnDate": exp.GTE,
        }[operator]
        return cls(this=expr, expression=bound)
