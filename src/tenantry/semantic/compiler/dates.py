"""Dates: granularities, absolute and relative date ranges (computed in the query's time zone),
and the ``YYYY-MM-DDTHH:mm:ss.SSS`` form Cube answers with.

A range is a pair of naive datetimes in the query's zone; the end is inclusive, to the
microsecond (Cube shows it as ``...59.999``)."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tenantry.semantic.compiler.errors import QueryError

INTERVALS = {
    "second": "1 second",
    "minute": "1 minute",
    "hour": "1 hour",
    "day": "1 day",
    "week": "1 week",
    "month": "1 month",
    "quarter": "3 months",
    "year": "1 year",
}
ORDER = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"]
TICK = dt.timedelta(microseconds=1)
_UNIT = r"(second|minute|hour|day|week|month|quarter|year)s?"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LAST_N = re.compile(rf"^(last|next)\s+(\d+)\s+{_UNIT}$")
_THIS = re.compile(rf"^(this|last|next)\s+{_UNIT}$")
_FROM_TO = re.compile(r"^from\s+(.+?)\s+to\s+(.+)$")
_AGO = re.compile(rf"^(\d+)\s+{_UNIT}\s+(ago|from now)$")


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(
            f"timezone: '{name}' is not an IANA time zone (like 'UTC' or 'Europe/Berlin')",
            field="timezone",
        ) from None


def fmt(value: dt.datetime) -> str:
    """Cube's timestamp form: 2024-01-05T00:00:00.000"""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def sql_literal(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def now_in(tz: str, now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(zone(tz)).replace(tzinfo=None)


def truncate(value: dt.datetime, unit: str) -> dt.datetime:
    if unit == "second":
        return value.replace(microsecond=0)
    if unit == "minute":
        return value.replace(second=0, microsecond=0)
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def add(value: dt.datetime, unit: str, n: int) -> dt.datetime:
    if unit in ("month", "quarter", "year"):
        months = n * {"month": 1, "quarter": 3, "year": 12}[unit]
        index = value.year * 12 + value.month - 1 + months
        year, month = divmod(index, 12)
        return value.replace(year=year, month=month + 1)  # callers pass unit-aligned values
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit]
    if unit in ("day", "week"):
        return value + dt.timedelta(days=n * seconds // 86400)
    return value + dt.timedelta(seconds=n * seconds)


def shift_months(value: dt.datetime, months: int) -> dt.datetime:
    """The same day ``months`` later, clamped to the month's last day."""
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    for day in range(value.day, 27, -1):
        try:
            return value.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return value.replace(year=year, month=month + 1)


def unit_range(start: dt.datetime, unit: str, count: int = 1) -> tuple[dt.datetime, dt.datetime]:
    begin = truncate(start, unit)
    return begin, add(begin, unit, count) - TICK


def parse_instant(text: str, tz: str, *, end: bool) -> dt.datetime:
    """An absolute date or timestamp → naive datetime in ``tz``; a bare date as an end means the
    end of that day (a timestamp is taken as given, as Cube does)."""
    raw = text.strip()
    if _DATE.match(raw):
        day = dt.datetime.fromisoformat(raw)
        return day + dt.timedelta(days=1) - TICK if end else day
    value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    if value.tzinfo is not None:
        value = value.astimezone(zone(tz)).replace(tzinfo=None)
    return value


def _point(text: str, tz: str, now: dt.datetime, *, end: bool) -> dt.datetime:
    """One side of 'from X to Y'."""
    text = text.strip()
    if text == "now":
        return now
    days = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if text in days:
        start, stop = unit_range(now + dt.timedelta(days=days[text]), "day")
        return stop if end else start
    match = _AGO.match(text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        n = -n if match.group(3) == "ago" else n
        if unit in ("second", "minute", "hour"):
            return add(now, unit, n)
        if unit in ("day", "week"):
            moved = now + dt.timedelta(days=n * (7 if unit == "week" else 1))
        else:
            moved = shift_months(now, n * {"month": 1, "quarter": 3, "year": 12}[unit])
        start, stop = unit_range(moved, "day")
        return stop if end else start
    return parse_instant(text, tz, end=end)


def relative_range(text: str, tz: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """'today', 'last week', 'last 7 days', 'from 7 days ago to now', ... → (start, end)."""
    phrase = " ".join(text.strip().lower().split())
    days = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if phrase in days:
        return unit_range(now + dt.timedelta(days=days[phrase]), "day")
    match = _THIS.match(phrase)
    if match:
        step = {"this": 0, "last": -1, "next": 1}[match.group(1)]
        unit = match.group(2)
        return unit_range(add(truncate(now, unit), unit, step), unit)
    match = _LAST_N.match(phrase)
    if match:
        n, unit = int(match.group(2)), match.group(3)
        if n < 1:
            raise ValueError("N must be 1 or more")
        current = truncate(now, unit)
        first = add(current, unit, -n if match.group(1) == "last" else 1)
        return unit_range(first, unit, n)
    match = _FROM_TO.match(phrase)
    if match:
        return _point(match.group(1), tz, now, end=False), _point(match.group(2), tz, now, end=True)
    raise ValueError(f"'{text}' is not a relative date range")


def resolve_range(value, tz: str, now_utc: dt.datetime | None, where: str):
    """A query's dateRange (list or relative string) → (start, end) naive datetimes in ``tz``."""
    now = now_in(tz, now_utc)
    try:
        if isinstance(value, str):
            try:
                return relative_range(value, tz, now)
            except ValueError:
                day = parse_instant(value, tz, end=False)  # a single date: that whole day
                return unit_range(day, "day")
        if len(value) == 1:
            value = [value[0], value[0]]
        start = parse_instant(value[0], tz, end=False)
        stop = parse_instant(value[1], tz, end=True)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{where}: {value!r} is not a date range; use ['2024-01-01', '2024-01-31'] or a "
            "relative range like 'last 7 days', 'this month', 'from 7 days ago to now'",
            field=where,
        ) from None
    if stop < start:
        raise QueryError(f"{where}: the range ends before it starts ({value!r})", field=where)
    return start, stop


def coarser_or_equal(query: str, rollup: str) -> bool:
    """Can rows truncated to ``rollup`` be re-grouped to ``query``? (week only from ≤ day)"""
    if query == rollup:
        return True
    if query == "week":
        return ORDER.index(rollup) <= ORDER.index("day")
    if rollup == "week":
        return False
    return ORDER.index(rollup) < ORDER.index(query)
