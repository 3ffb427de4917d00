"""What to build: each pre-aggregation's table, its partitions, and which are due.

A pre-aggregation lives in one table of the organization's warehouse (``tny_pa_…`` in its
marts schema: a prefix the platform owns). A partition is a time range of that table's rows;
rebuilding it replaces exactly those rows. The table name carries a hash of the definition, so
a changed definition builds a new table instead of serving stale shapes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from tenantry.semantic.schema import DataModel, PreAggregation

TABLE_PREFIX = "tny_pa_"
STEP_MONTHS = {"month": 1, "quarter": 3, "year": 12}
STEP_DAYS = {"day": 1, "week": 7}
STEP_SECONDS = {"hour": 3600, "minute": 60, "second": 1}
DEFAULT_EVERY = 3600.0  # a pre-aggregation without a refresh key: rebuilt hourly


@dataclass(frozen=True)
class Definition:
    path: str  # cube.name
    pre: PreAggregation
    sql: str  # SELECT building the whole rollup (no window)
    columns: list[tuple[str, str]]  # (column alias, member key)
    table: str  # bare table name
    signature: str
    time_column: str | None  # the rollup's time column (partitioned only)

    @property
    def partitioned(self) -> bool:
        return bool(self.pre.partition_granularity and self.time_column)


@dataclass
class Partition:
    key: str  # "all" or the start, e.g. "2024-03-01"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    sql: str = ""
    extra: dict = field(default_factory=dict)


def table_name(pre: PreAggregation, signature: str) -> str:
    base = f"{pre.cube}__{pre.name}".lower()[:44]
    return f"{TABLE_PREFIX}{base}_{signature[:8]}"


def definitions(model: DataModel, *, dialect: str, schemas: dict[str, str] | None) -> list:
    from tenantry.semantic.compiler import preaggs as compiled

    out = []
    for cube in model.cubes.values():
        for pre in cube.pre_aggregations.values():
            sql, columns = compiled.rollup_select(model, pre, dialect=dialect, schemas=schemas)
            signature = hashlib.sha256(f"{dialect}\n{sql}".encode()).hexdigest()
            time_column = None
            if pre.time_dimension and pre.granularity:
                wanted = f"{pre.time_dimension}.{pre.granularity}"
                time_column = next((a for a, m in columns if m == wanted), None)
            out.append(
                Definition(
                    pre.path, pre, sql, columns, table_name(pre, signature), signature, time_column
                )
            )
    return out


def floor(value: dt.datetime, unit: str) -> dt.datetime:
    value = value.replace(tzinfo=None)
    if unit in STEP_MONTHS:
        month = value.month - (value.month - 1) % STEP_MONTHS[unit]
        return dt.datetime(value.year, month, 1)
    if unit == "week":
        day = dt.datetime(value.year, value.month, value.day)
        return day - dt.timedelta(days=day.weekday())
    if unit == "day":
        return dt.datetime(value.year, value.month, value.day)
    seconds = STEP_SECONDS[unit]
    epoch = dt.datetime(1970, 1, 1)
    return epoch + dt.timedelta(seconds=int((value - epoch).total_seconds()) // seconds * seconds)


def step(value: dt.datetime, unit: str) -> dt.datetime:
    if unit in STEP_MONTHS:
        months = value.month - 1 + STEP_MONTHS[unit]
        return value.replace(year=value.year + months // 12, month=months % 12 + 1)
    if unit in STEP_DAYS:
        return value + dt.timedelta(days=STEP_DAYS[unit])
    return value + dt.timedelta(seconds=STEP_SECONDS[unit])


def windows(start: dt.datetime, end: dt.datetime, unit: str) -> list[tuple]:
    """[start, end) ranges of ``unit`` covering ``start``..``end`` inclusive."""
    out, at = [], floor(start, unit)
    while at <= end.replace(tzinfo=None):
        nxt = step(at, unit)
        out.append((at, nxt))
        at = nxt
    return out


def due(
    definition: Definition,
    windows_: list[tuple],
    built: dict[str, str],
    refresh_value: str,
    now: dt.datetime,
) -> list[str]:
    """Partition keys to (re)build: never built, or — under a new refresh value — every one
    (full refresh) or only those ending inside the update window (incremental)."""
    key = definition.pre.refresh_key
    keys = [w[0].isoformat() for w in windows_] if windows_ else ["all"]
    out = []
    for k, window in zip(keys, windows_ or [None] * len(keys), strict=True):
        if k not in built:
            out.append(k)
        elif built[k] != refresh_value:
            if key is not None and key.incremental and window is not None:
                horizon = now.replace(tzinfo=None) - dt.timedelta(seconds=key.update_window or 0)
                if window[1] > horizon:
                    out.append(k)
            else:
                out.append(k)
    return out
