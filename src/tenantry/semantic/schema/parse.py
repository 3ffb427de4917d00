"""YAML mappings → model objects, one cube or view at a time. Problems are collected, not raised,
so one save reports every mistake with its file, cube, member and line."""

from __future__ import annotations

import re
from typing import Any

from tenantry.semantic.schema.errors import ModelError
from tenantry.semantic.schema.model import (
    DIMENSION_TYPES,
    GRANULARITIES,
    MEASURE_TYPES,
    AccessPolicy,
    Cube,
    Dimension,
    Join,
    Measure,
    PreAggregation,
    RefreshKey,
    RowFilter,
    Segment,
    View,
)
from tenantry.semantic.schema.refs import NAME
from tenantry.semantic.schema.yaml_lines import Node

RELATIONSHIP_ALIASES = {
    "one_to_one": "one_to_one",
    "one_to_many": "one_to_many",
    "many_to_one": "many_to_one",
    "has_one": "one_to_one",
    "has_many": "one_to_many",
    "belongs_to": "many_to_one",
    "hasOne": "one_to_one",
    "hasMany": "one_to_many",
    "belongsTo": "many_to_one",
}
_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 604800,
    "month": 2592000,
    "year": 31536000,
}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([a-z]+?)s?\s*$")

CUBE_KEYS = {
    "name",
    "sql_table",
    "sql",
    "title",
    "description",
    "public",
    "shown",
    "refresh_key",
    "joins",
    "dimensions",
    "measures",
    "segments",
    "pre_aggregations",
    "access_policy",
    "meta",
    "data_source",
    "extends",
    "sql_alias",
}
MEMBER_KEYS = {
    "name",
    "sql",
    "type",
    "title",
    "short_title",
    "description",
    "public",
    "shown",
    "format",
    "meta",
    "primary_key",
    "filters",
    "drill_members",
}


def interval_seconds(text: Any) -> float | None:
    """'1 hour', '30 seconds', '7 day' → seconds; None when it is not an interval."""
    match = _INTERVAL.match(str(text).lower()) if text is not None else None
    if not match or match.group(2) not in _UNITS:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


class Collector:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[ModelError] = []

    def add(self, message, *, node=None, key=None, cube=None, member=None, line=None):
        if line is None and isinstance(node, Node):
            line = node.line_of(key) if key else node.line
        self.problems.append(ModelError(self.file, message, cube, member, line))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _public(node: Node, default: bool = True) -> bool:
    if "public" in node:
        return bool(node["public"])
    return bool(node.get("shown", default))


def _mappings(out: Collector, node: Node, key: str, cube: str) -> list[Node]:
    items = node.get(key) or []
    if not isinstance(items, list):
        out.add(f"'{key}' must be a list", node=node, key=key, cube=cube)
        return []
    good = []
    for item in items:
        if not isinstance(item, Node):
            out.add(f"each entry of '{key}' must be a mapping", node=node, key=key, cube=cube)
        elif not isinstance(item.get("name"), str) or not NAME.match(item["name"]):
            out.add(
                f"an entry of '{key}' needs a 'name' made of letters, digits and _",
                node=item,
                cube=cube,
            )
        else:
            good.append(item)
    return good


def refresh_key(out: Collector, node: Any, cube: str, owner: Node) -> RefreshKey | None:
    if node is None:
        return None
    if not isinstance(node, Node):
        out.add("'refresh_key' must be a mapping with 'every' and/or 'sql'", node=owner, cube=cube)
        return None
    key = RefreshKey(sql=_text(node.get("sql")), incremental=bool(node.get("incremental")))
    if "every" in node:
        key.every = interval_seconds(node["every"])
        if key.every is None or key.every <= 0:
            out.add(
                f"refresh_key.every '{node['every']}' is not an interval like '1 hour'",
                node=node,
                key="every",
                cube=cube,
            )
    if "update_window" in node:
        key.update_window = interval_seconds(node["update_window"])
        if key.update_window is None:
            out.add("refresh_key.update_window must be like '7 day'", node=node, cube=cube)
    if key.every is None and key.sql is None:
        out.add("refresh_key needs 'every' or 'sql'", node=node, cube=cube)
    return key


def dimension(out: Collector, cube: str, node: Node) -> Dimension | None:
    name = node["name"]
    for key in node.keys() - MEMBER_KEYS - {"case", "sub_query", "propagate_filters_to_sub_query"}:
        out.add(f"unknown property '{key}'", node=node, key=key, cube=cube, member=name)
    kind = node.get("type")
    if kind not in DIMENSION_TYPES:
        out.add(
            f"type '{kind}' is not a dimension type; use one of {', '.join(DIMENSION_TYPES)}",
            node=node,
            key="type",
            cube=cube,
            member=name,
        )
        return None
    if node.get("sql") in (None, ""):
        out.add("a dimension needs 'sql'", node=node, cube=cube, member=name)
        return None
    return Dimension(
        cube=cube,
        name=name,
        type=kind,
        sql=str(node["sql"]),
        primary_key=bool(node.get("primary_key")),
        title=_text(node.get("title")),
        short_title=_text(node.get("short_title")),
        description=_text(node.get("description")),
        # As in Cube: a primary key is hidden unless the model says `public: true`.
        public=_public(node, default=not node.get("primary_key")),
        format=_text(node.get("format")),
        meta=node.get("meta"),
        line=node.line,
    )


def measure(out: Collector, cube: str, node: Node) -> Measure | None:
    name = node["name"]
    for key in node.keys() - MEMBER_KEYS - {"rolling_window"}:
        out.add(f"unknown property '{key}'", node=node, key=key, cube=cube, member=name)
    kind = node.get("type")
    if kind not in MEASURE_TYPES:
        out.add(
            f"type '{kind}' is not a measure type; use one of {', '.join(MEASURE_TYPES)}",
            node=node,
            key="type",
            cube=cube,
            member=name,
        )
        return None
    sql = _text(node.get("sql"))
    if not sql and kind != "count":
        out.add(f"a {kind} measure needs 'sql'", node=node, cube=cube, member=name)
        return None
    filters = []
    for item in node.get("filters") or []:
        if isinstance(item, Node) and item.get("sql"):
            filters.append(str(item["sql"]))
        else:
            out.add("each filter needs 'sql'", node=node, key="filters", cube=cube, member=name)
    drill = node.get("drill_members") or []
    if not isinstance(drill, list):
        out.add("'drill_members' must be a list", node=node, cube=cube, member=name)
        drill = []
    return Measure(
        cube=cube,
        name=name,
        type=kind,
        sql=sql,
        filters=filters,
        title=_text(node.get("title")),
        short_title=_text(node.get("short_title")),
        description=_text(node.get("description")),
        public=_public(node),
        format=_text(node.get("format")),
        drill_members=[str(d) for d in drill],
        meta=node.get("meta"),
        line=node.line,
    )


def segment(out: Collector, cube: str, node: Node) -> Segment | None:
    if not node.get("sql"):
        out.add("a segment needs 'sql'", node=node, cube=cube, member=node["name"])
        return None
    return Segment(
        cube=cube,
        name=node["name"],
        sql=str(node["sql"]),
        title=_text(node.get("title")),
        description=_text(node.get("description")),
        public=_public(node),
        line=node.line,
    )


def join(out: Collector, cube: str, node: Node) -> Join | None:
    rel = RELATIONSHIP_ALIASES.get(str(node.get("relationship")))
    if rel is None:
        out.add(
            f"relationship '{node.get('relationship')}' is not one of one_to_one, "
            "one_to_many, many_to_one",
            node=node,
            key="relationship",
            cube=cube,
            member=node["name"],
        )
        return None
    if not node.get("sql"):
        out.add("a join needs 'sql'", node=node, cube=cube, member=node["name"])
        return None
    return Join(
        cube=cube, target=node["name"], relationship=rel, sql=str(node["sql"]), line=node.line
    )


def _sql_of(value: Any) -> str | None:
    if isinstance(value, Node):
        return _text(value.get("sql"))
    return _text(value)


def pre_aggregation(out: Collector, cube: str, node: Node) -> PreAggregation | None:
    name = node["name"]
    kind = node.get("type", "rollup")
    if kind not in ("rollup", "original_sql"):
        out.add(
            f"pre-aggregation type '{kind}' is not supported; use rollup or original_sql",
            node=node,
            key="type",
            cube=cube,
            member=name,
        )
        return None
    lists = {}
    for key in ("measures", "dimensions", "segments"):
        value = node.get(key) or []
        if not isinstance(value, list):
            out.add(f"'{key}' must be a list", node=node, key=key, cube=cube, member=name)
            value = []
        lists[key] = [str(v) for v in value]
    granularity = node.get("granularity")
    partition = node.get("partition_granularity")
    for key, value in (("granularity", granularity), ("partition_granularity", partition)):
        if value is not None and value not in GRANULARITIES:
            out.add(
                f"{key} '{value}' is not one of {', '.join(GRANULARITIES)}",
                node=node,
                key=key,
                cube=cube,
                member=name,
            )
    time_dimension = _text(node.get("time_dimension"))
    if (granularity or partition) and not time_dimension:
        out.add("a granularity needs a 'time_dimension'", node=node, cube=cube, member=name)
    if time_dimension and not granularity:
        out.add("a 'time_dimension' needs a 'granularity'", node=node, cube=cube, member=name)
    return PreAggregation(
        cube=cube,
        name=name,
        type=kind,
        time_dimension=time_dimension,
        granularity=granularity,
        partition_granularity=partition,
        refresh_key=refresh_key(out, node.get("refresh_key"), cube, node),
        build_range_start=_sql_of(node.get("build_range_start")),
        build_range_end=_sql_of(node.get("build_range_end")),
        line=node.line,
        **lists,
    )


def _row_filter(out: Collector, cube: str, node: Any, owner: Node) -> RowFilter | None:
    if not isinstance(node, Node):
        out.add("each row_level filter must be a mapping", node=owner, cube=cube)
        return None
    if "and" in node or "or" in node:
        key = "and" if "and" in node else "or"
        parts = [_row_filter(out, cube, item, node) for item in node[key] or []]
        parts = [p for p in parts if p]
        return RowFilter(and_=parts) if key == "and" else RowFilter(or_=parts)
    if not node.get("member") or not node.get("operator"):
        out.add("a row_level filter needs 'member' and 'operator'", node=node, cube=cube)
        return None
    values = node.get("values") or []
    if not isinstance(values, list):
        values = [values]
    return RowFilter(member=str(node["member"]), operator=str(node["operator"]), values=values)


def access_policy(out: Collector, cube: str, node: Any) -> AccessPolicy | None:
    if not isinstance(node, Node) or not node.get("role"):
        line = node.line if isinstance(node, Node) else None
        out.add("each access_policy entry needs a 'role' ('*' for everyone)", cube=cube, line=line)
        return None
    policy = AccessPolicy(role=str(node["role"]), line=node.line)
    row = node.get("row_level")
    if isinstance(row, Node):
        policy.row_allow_all = bool(row.get("allow_all"))
        if "filters" in row:
            found = [_row_filter(out, cube, f, row) for f in row.get("filters") or []]
            policy.row_filters = [f for f in found if f]
    member = node.get("member_level")
    if isinstance(member, Node):
        includes = member.get("includes", "*")
        if includes != "*":
            if not isinstance(includes, list):
                out.add("member_level.includes must be '*' or a list", node=member, cube=cube)
                includes = []
            policy.member_includes = [str(i) for i in includes]
        excludes = member.get("excludes") or []
        policy.member_excludes = [str(e) for e in excludes] if isinstance(excludes, list) else []
    return policy


def cube(out: Collector, node: Node) -> Cube | None:
    name = node["name"]
    for key in node.keys() - CUBE_KEYS:
        out.add(f"unknown property '{key}'", node=node, key=key, cube=name)
    if bool(node.get("sql_table")) == bool(node.get("sql")):
        out.add("a cube needs exactly one of 'sql_table' or 'sql'", node=node, cube=name)
    result = Cube(
        name=name,
        file=out.file,
        sql_table=_text(node.get("sql_table")),
        sql=_text(node.get("sql")),
        title=_text(node.get("title")),
        description=_text(node.get("description")),
        public=_public(node),
        refresh_key=refresh_key(out, node.get("refresh_key"), name, node),
        meta=node.get("meta"),
        line=node.line,
    )
    sections = (
        ("dimensions", dimension, result.dimensions),
        ("measures", measure, result.measures),
        ("segments", segment, result.segments),
        ("joins", join, result.joins),
        ("pre_aggregations", pre_aggregation, result.pre_aggregations),
    )
    seen: dict[str, str] = {}
    for key, build, into in sections:
        for item in _mappings(out, node, key, name):
            member = item["name"]
            if key != "joins" and member in seen:
                out.add(
                    f"'{member}' is defined twice (also in {seen[member]})",
                    node=item,
                    cube=name,
                    member=member,
                )
                continue
            if key != "joins":
                seen[member] = key
            built = build(out, name, item)
            if built is not None:
                into[member] = built
    policies = node.get("access_policy") or []
    for item in policies if isinstance(policies, list) else []:
        policy = access_policy(out, name, item)
        if policy:
            result.access_policy.append(policy)
    return result


def view_stub(out: Collector, node: Node) -> tuple[View, list[Node]]:
    """The view itself; its ``cubes`` entries are resolved once every cube is known."""
    view = View(
        name=node["name"],
        file=out.file,
        title=_text(node.get("title")),
        description=_text(node.get("description")),
        public=_public(node),
        meta=node.get("meta"),
        line=node.line,
    )
    entries = node.get("cubes") or []
    if not isinstance(entries, list) or not entries:
        out.add("a view needs a list of 'cubes' with a 'join_path'", node=node, cube=view.name)
        return view, []
    good = []
    for entry in entries:
        if isinstance(entry, Node) and entry.get("join_path"):
            good.append(entry)
        else:
            out.add("each entry of 'cubes' needs a 'join_path'", node=node, cube=view.name)
    return view, good
