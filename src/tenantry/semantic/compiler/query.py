"""The Cube query JSON: checked field by field into plain objects, and expanded into the queries a
request runs (regular, compareDateRange, blending)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tenantry.semantic.compiler.errors import QueryError
from tenantry.semantic.schema.model import GRANULARITIES

DEFAULT_LIMIT = 10000
MAX_LIMIT = 50000

# A member: cube.member, or cube.time_dimension.granularity where a time dimension is allowed.
MEMBER = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")
MEMBER_WITH_GRANULARITY = re.compile(r"^([A-Za-z_]\w*\.[A-Za-z_]\w*)\.([A-Za-z_]\w*)$")

OPERATORS = {
    "equals",
    "notEquals",
    "contains",
    "notContains",
    "startsWith",
    "notStartsWith",
    "endsWith",
    "notEndsWith",
    "in",
    "notIn",
    "gt",
    "gte",
    "lt",
    "lte",
    "set",
    "notSet",
    "inDateRange",
    "notInDateRange",
    "onTheDate",
    "beforeDate",
    "beforeOrOnDate",
    "afterDate",
    "afterOrOnDate",
    "measureFilter",
}
NO_VALUES = {"set", "notSet", "measureFilter"}
KEYS = {
    "measures",
    "dimensions",
    "segments",
    "timeDimensions",
    "filters",
    "order",
    "limit",
    "offset",
    "total",
    "ungrouped",
    "timezone",
}
# Keys clients send that change nothing here (or that a normalized query carries back).
HARMLESS = {
    "renewQuery",
    "responseFormat",
    "rowLimit",
    "queryType",
    "cacheMode",
    "joinHints",
    "timeDimensionsGrouped",
}


@dataclass
class TimeDimensionQ:
    dimension: str
    granularity: str | None = None
    date_range: Any = None  # [from, to] or a relative string
    field: str = ""


@dataclass
class FilterQ:
    member: str
    operator: str
    values: list[Any]
    field: str = ""


@dataclass
class LogicalQ:
    op: str  # and | or
    items: list[FilterQ | LogicalQ]
    field: str = ""


@dataclass
class Query:
    measures: list[str] = field(default_factory=list)
    dimensions: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    time_dimensions: list[TimeDimensionQ] = field(default_factory=list)
    filters: list[FilterQ | LogicalQ] = field(default_factory=list)
    order: list[tuple[str, str]] | None = None  # None: Cube's default order
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    total: bool = False
    ungrouped: bool = False
    timezone: str = "UTC"
    query_type: str = "regularQuery"
    given_limit: bool = False
    given_offset: bool = False


def _strings(raw: dict, key: str) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise QueryError(f"{key} must be a list of member names", field=key)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise QueryError(f"{key}[{i}] must be a member name (a string)", field=f"{key}[{i}]")
    return list(value)


def _bool(raw: dict, key: str) -> bool:
    value = raw.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise QueryError(f"{key} must be true or false", field=key)
    return value


def _int(raw: dict, key: str, default: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QueryError(f"{key} must be a whole number of 0 or more", field=key)
    return value


def _filter(raw: Any, where: str) -> FilterQ | LogicalQ:
    if not isinstance(raw, dict):
        raise QueryError(f"{where} must be an object", field=where)
    logical = [k for k in ("and", "or") if k in raw]
    if logical:
        if len(logical) > 1 or len(raw) > 1:
            raise QueryError(f"{where}: an 'and'/'or' filter holds only that list", field=where)
        op = logical[0]
        items = raw[op]
        if not isinstance(items, list):
            raise QueryError(f"{where}.{op} must be a list of filters", field=f"{where}.{op}")
        return LogicalQ(op, [_filter(f, f"{where}.{op}[{i}]") for i, f in enumerate(items)], where)
    unknown = set(raw) - {"member", "dimension", "operator", "values"}
    if unknown:
        key = sorted(unknown)[0]
        raise QueryError(f"{where}: unknown filter key '{key}'", field=f"{where}.{key}")
    member = raw.get("member", raw.get("dimension"))
    if not isinstance(member, str):
        raise QueryError(f"{where}.member must be a member name", field=f"{where}.member")
    operator = raw.get("operator")
    if operator not in OPERATORS:
        raise QueryError(
            f"{where}.operator: '{operator}' is not a filter operator; use one of "
            + ", ".join(sorted(OPERATORS)),
            field=f"{where}.operator",
        )
    values = raw.get("values")
    if values is None:
        if operator not in NO_VALUES:
            raise QueryError(
                f"{where}.values: the '{operator}' filter on '{member}' needs values",
                field=f"{where}.values",
            )
        values = []
    if not isinstance(values, list):
        raise QueryError(f"{where}.values must be a list", field=f"{where}.values")
    for i, value in enumerate(values):
        if value is not None and not isinstance(value, str | int | float | bool):
            raise QueryError(
                f"{where}.values[{i}] must be a string, number, boolean or null",
                field=f"{where}.values[{i}]",
            )
    return FilterQ(member, operator, list(values), where)


def _time_dimension(raw: Any, where: str) -> TimeDimensionQ:
    if not isinstance(raw, dict):
        raise QueryError(f"{where} must be an object", field=where)
    unknown = set(raw) - {"dimension", "granularity", "dateRange", "compareDateRange"}
    if unknown:
        key = sorted(unknown)[0]
        raise QueryError(f"{where}: unknown key '{key}'", field=f"{where}.{key}")
    dimension = raw.get("dimension")
    if not isinstance(dimension, str):
        raise QueryError(f"{where}.dimension must be a member name", field=f"{where}.dimension")
    granularity = raw.get("granularity")
    if granularity is not None and granularity not in GRANULARITIES:
        raise QueryError(
            f"{where}.granularity: '{granularity}' is not one of {', '.join(GRANULARITIES)}",
            field=f"{where}.granularity",
        )
    if "compareDateRange" in raw:
        raise QueryError(
            f"{where}.compareDateRange: expand the query first (expand_query)",
            field=f"{where}.compareDateRange",
        )
    date_range = raw.get("dateRange")
    if date_range is not None:
        ok = isinstance(date_range, str) or (
            isinstance(date_range, list)
            and len(date_range) in (1, 2)
            and all(isinstance(d, str) for d in date_range)
        )
        if not ok:
            raise QueryError(
                f"{where}.dateRange must be [from, to] or a relative range like 'last week'",
                field=f"{where}.dateRange",
            )
    return TimeDimensionQ(dimension, granularity, date_range, where)


def _order(raw: Any) -> list[tuple[str, str]] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for i, item in enumerate(raw):
            if isinstance(item, list | tuple) and len(item) == 2:
                pairs.append((item[0], item[1]))
            elif isinstance(item, dict) and "id" in item:  # Cube's normalized {id, desc}
                pairs.append((item["id"], "desc" if item.get("desc") else "asc"))
            else:
                raise QueryError(f"order[{i}] must be [member, 'asc' | 'desc']", field="order")
    else:
        raise QueryError(
            "order must be an object {member: 'asc' | 'desc'} or a list", field="order"
        )
    out = []
    for member, direction in pairs:
        if not isinstance(member, str):
            raise QueryError("order: each key must be a member name", field="order")
        if direction not in ("asc", "desc"):
            raise QueryError(
                f"order: '{member}' must be ordered 'asc' or 'desc', not {direction!r}",
                field="order",
            )
        out.append((member, direction))
    return out


def parse_query(raw: Any) -> Query:
    """The query JSON → ``Query``; anything malformed raises ``QueryError`` naming the field."""
    if not isinstance(raw, dict):
        raise QueryError("the query must be a JSON object", field="query")
    unknown = set(raw) - KEYS - HARMLESS
    if unknown:
        key = sorted(unknown)[0]
        raise QueryError(f"'{key}' is not a query property", field=key)
    q = Query(
        measures=_strings(raw, "measures"),
        dimensions=_strings(raw, "dimensions"),
        segments=_strings(raw, "segments"),
        total=_bool(raw, "total"),
        ungrouped=_bool(raw, "ungrouped"),
    )
    tds = raw.get("timeDimensions") or []
    if not isinstance(tds, list):
        raise QueryError("timeDimensions must be a list", field="timeDimensions")
    q.time_dimensions = [_time_dimension(t, f"timeDimensions[{i}]") for i, t in enumerate(tds)]
    # 'cube.time.month' among dimensions is a time dimension with that granularity (as in Cube).
    for i, name in enumerate(list(q.dimensions)):
        match = MEMBER_WITH_GRANULARITY.match(name)
        if match:
            where = f"dimensions[{i}]"
            if match.group(2) not in GRANULARITIES:
                raise QueryError(
                    f"{where}: '{match.group(2)}' is not a granularity "
                    f"({', '.join(GRANULARITIES)})",
                    field=where,
                )
            q.dimensions.remove(name)
            q.time_dimensions.append(TimeDimensionQ(match.group(1), match.group(2), None, where))
    if not (q.measures or q.dimensions or any(t.granularity for t in q.time_dimensions)):
        raise QueryError(
            "Query should contain either measures, dimensions or timeDimensions with "
            "granularities in order to be valid",
            field="query",
        )
    filters = raw.get("filters") or []
    if not isinstance(filters, list):
        raise QueryError("filters must be a list", field="filters")
    q.filters = [_filter(f, f"filters[{i}]") for i, f in enumerate(filters)]
    q.order = _order(raw.get("order"))
    q.given_limit = raw.get("limit") is not None
    q.limit = _int(raw, "limit", DEFAULT_LIMIT)
    if q.limit > MAX_LIMIT:
        raise QueryError(
            f"limit: {q.limit} exceeds the maximum row limit of {MAX_LIMIT}", field="limit"
        )
    q.given_offset = raw.get("offset") is not None
    q.offset = _int(raw, "offset", 0)
    timezone = raw.get("timezone") or "UTC"
    if not isinstance(timezone, str):
        raise QueryError("timezone must be an IANA time zone name", field="timezone")
    from tenantry.semantic.compiler.dates import zone

    zone(timezone)  # raises on an unknown zone
    q.timezone = timezone
    query_type = raw.get("queryType") or "regularQuery"
    if query_type not in ("regularQuery", "compareDateRangeQuery", "blendingQuery"):
        raise QueryError(f"queryType '{query_type}' is not known", field="queryType")
    q.query_type = query_type
    return q


def expand_query(query: dict | list) -> tuple[str, list[dict]]:
    """One request → (queryType, the queries to run).

    A list is a data-blending query; a ``compareDateRange`` on a time dimension becomes one query
    per date range; anything else is a regular query. Each query carries its ``queryType``."""
    if isinstance(query, list):
        if not query:
            raise QueryError("a list of queries (data blending) cannot be empty", field="query")
        out = []
        for i, q in enumerate(query):
            if not isinstance(q, dict):
                raise QueryError(f"query[{i}] must be a JSON object", field=f"query[{i}]")
            kind, expanded = expand_query(q)
            if kind == "compareDateRangeQuery":
                raise QueryError("compareDateRange cannot be blended", field=f"query[{i}]")
            out += [{**e, "queryType": "blendingQuery"} for e in expanded]
        return "blendingQuery", out
    if not isinstance(query, dict):
        raise QueryError("the query must be a JSON object", field="query")
    tds = query.get("timeDimensions")
    if isinstance(tds, list):
        for i, td in enumerate(tds):
            if isinstance(td, dict) and "compareDateRange" in td:
                ranges = td["compareDateRange"]
                where = f"timeDimensions[{i}].compareDateRange"
                if not isinstance(ranges, list) or not ranges:
                    raise QueryError(f"{where} must be a list of date ranges", field=where)
                out = []
                for date_range in ranges:
                    q = copy.deepcopy(query)
                    entry = {k: v for k, v in td.items() if k != "compareDateRange"}
                    entry["dateRange"] = date_range
                    q["timeDimensions"][i] = entry
                    q["queryType"] = "compareDateRangeQuery"
                    out.append(q)
                return "compareDateRangeQuery", out
    return "regularQuery", [{**query, "queryType": query.get("queryType") or "regularQuery"}]
