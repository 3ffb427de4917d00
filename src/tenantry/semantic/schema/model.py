"""The validated data model. Plain slotted dataclasses: one compiled organization stays small.

SQL snippets are kept as written (with their ``{CUBE}`` / ``{cube.member}`` references); the
compiler resolves the references when it builds a query, so a model is cheap to build and to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIMENSION_TYPES = ("string", "number", "time", "boolean")
MEASURE_TYPES = (
    "count",
    "count_distinct",
    "count_distinct_approx",
    "sum",
    "avg",
    "min",
    "max",
    "number",
)
# Measures a rollup can re-aggregate (Cube's "additive"): a coarser query sums finer rows.
ADDITIVE = ("count", "sum", "min", "max", "count_distinct_approx")
RELATIONSHIPS = ("one_to_one", "one_to_many", "many_to_one")
GRANULARITIES = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")


@dataclass(slots=True)
class Dimension:
    cube: str
    name: str
    type: str
    sql: str
    primary_key: bool = False
    title: str | None = None
    short_title: str | None = None
    description: str | None = None
    public: bool = True
    format: str | None = None
    meta: dict[str, Any] | None = None
    line: int | None = None

    @property
    def path(self) -> str:
        return f"{self.cube}.{self.name}"


@dataclass(slots=True)
class Measure:
    cube: str
    name: str
    type: str
    sql: str | None  # None: count(*) for `count`
    filters: list[str] = field(default_factory=list)  # SQL conditions, ANDed
    title: str | None = None
    short_title: str | None = None
    description: str | None = None
    public: bool = True
    format: str | None = None
    drill_members: list[str] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    line: int | None = None

    @property
    def path(self) -> str:
        return f"{self.cube}.{self.name}"

    @property
    def additive(self) -> bool:
        return self.type in ADDITIVE


@dataclass(slots=True)
class Segment:
    cube: str
    name: str
    sql: str
    title: str | None = None
    description: str | None = None
    public: bool = True
    line: int | None = None

    @property
    def path(self) -> str:
        return f"{self.cube}.{self.name}"


@dataclass(slots=True)
class Join:
    cube: str  # the cube that declares the join
    target: str  # the cube joined to
    relationship: str  # from `cube`'s side: one_to_many = one `cube` row, many `target` rows
    sql: str
    line: int | None = None


@dataclass(slots=True)
class RefreshKey:
    every: float | None = None  # seconds
    sql: str | None = None
    incremental: bool = False
    update_window: float | None = None  # seconds


@dataclass(slots=True)
class PreAggregation:
    cube: str
    name: str
    type: str  # rollup | original_sql
    measures: list[str] = field(default_factory=list)  # full paths: cube.member
    dimensions: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    time_dimension: str | None = None
    granularity: str | None = None
    partition_granularity: str | None = None
    refresh_key: RefreshKey | None = None
    build_range_start: str | None = None  # SQL returning a timestamp
    build_range_end: str | None = None
    line: int | None = None

    @property
    def path(self) -> str:
        return f"{self.cube}.{self.name}"


@dataclass(slots=True)
class RowFilter:
    """One row-level condition of an access policy; values may hold ``{securityContext.x}``."""

    member: str | None = None  # full path
    operator: str | None = None
    values: list[Any] = field(default_factory=list)
    and_: list[RowFilter] = field(default_factory=list)
    or_: list[RowFilter] = field(default_factory=list)


@dataclass(slots=True)
class AccessPolicy:
    role: str  # "*" = every caller
    row_filters: list[RowFilter] | None = None  # None: no row-level clause (all rows)
    row_allow_all: bool = False
    member_includes: list[str] | None = None  # None: "*" ; names without the cube prefix
    member_excludes: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass(slots=True)
class Cube:
    name: str
    file: str
    sql_table: str | None = None
    sql: str | None = None
    title: str | None = None
    description: str | None = None
    public: bool = True
    refresh_key: RefreshKey | None = None
    joins: dict[str, Join] = field(default_factory=dict)  # by target cube name
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    measures: dict[str, Measure] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    pre_aggregations: dict[str, PreAggregation] = field(default_factory=dict)
    access_policy: list[AccessPolicy] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    line: int | None = None

    @property
    def primary_keys(self) -> list[Dimension]:
        return [d for d in self.dimensions.values() if d.primary_key]

    def member(self, name: str) -> Dimension | Measure | Segment | None:
        return self.dimensions.get(name) or self.measures.get(name) or self.segments.get(name)


@dataclass(slots=True)
class ViewMember:
    """A view's member: its own name, the cube member it exposes and the join path to it."""

    name: str
    kind: str  # dimension | measure | segment
    cube: str
    member: str
    join_path: list[str]  # cube names from the view's root cube to ``cube``

    @property
    def target(self) -> str:
        return f"{self.cube}.{self.member}"


@dataclass(slots=True)
class View:
    name: str
    file: str
    title: str | None = None
    description: str | None = None
    public: bool = True
    members: dict[str, ViewMember] = field(default_factory=dict)
    meta: dict[str, Any] | None = None
    line: int | None = None


@dataclass(slots=True)
class DataModel:
    cubes: dict[str, Cube] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    version: int = 0  # the organization's model version it was built from (0: unsaved)

    def cube(self, name: str) -> Cube | None:
        return self.cubes.get(name)

    @property
    def has_pre_aggregations(self) -> bool:
        return any(c.pre_aggregations for c in self.cubes.values())
