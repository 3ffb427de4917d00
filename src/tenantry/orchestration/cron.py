"""Cron expressions (5 fields, Vixie cron semantics) in an IANA time zone.

Parsing is ours, so errors name the field and the fix, and so the parts where APScheduler 3.x
differs from cron are translated: day-of-week numbers (cron: 0 = Sunday; APScheduler: 0 =
Monday) become names, and a restricted day of month *and* day of week match either (cron's OR).

DST policy (``Cron``): a local time skipped by a spring-forward jump fires once, at the same
offset as before the jump (02:30 → 03:30 EDT in New York), which is what APScheduler does; a
local time that repeats when clocks fall back fires once, at its first occurrence, when the hour
field is fixed (``30 1 * * *``), and in both occurrences when the hour field is a wildcard or a
step (``30 * * * *``, ``*/20 */2 * * *``), like Vixie cron.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger

from tenantry.core.errors import ValidationFailed

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
FIELDS = (  # name, lowest, highest, names for values
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
LONGEST = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_PART = re.compile(r"^(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?$")
EXAMPLE = "e.g. '*/15 * * * *' (every 15 minutes) or '30 2 * * 1-5' (02:30 on weekdays)"


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: APScheduler's field strings plus what the DST policy needs."""

    expr: str
    minute: str
    hour: str
    day: str
    month: str
    day_of_week: str
    hour_repeats: bool  # hour field is a wildcard or a step: fire in both folds
    either_day: bool  # both day fields restricted: cron matches either


def _value(text: str, field: int) -> int:
    name, low, high, names = FIELDS[field]
    if text.isdigit():
        value = int(text)
    elif text in names:
        value = names.index(text) + (low if field == 3 else 0)
    else:
        hint = f" or a name ({', '.join(names[:3])} …)" if names else ""
        raise _bad(f"{name} field: '{text}' is not a number{hint}")
    if not low <= value <= high:
        raise _bad(f"{name} field: {value} is outside {low}-{high}")
    return value


def _bad(message: str, example: bool = False) -> ValidationFailed:
    return ValidationFailed.field("cron", f"{message}; {EXAMPLE}" if example else message)


def _values(text: str, field: int) -> set[int] | None:
    """The set of values the field allows (None: every value, a plain '*')."""
    name, low, high, _ = FIELDS[field]
    if text == "*":
        return None
    out: set[int] = set()
    for part in text.split(","):
        m = _PART.match(part)
        if not m:
            raise _bad(
                f"{name} field: '{part}' is not a value, range (a-b), step (*/n) or list", True
            )
        first, last, step = m.groups()
        if step is not None and int(step) < 1:
            raise _bad(f"{name} field: the step in '{part}' must be at least 1")
        if first == "*":
            if last is not None:
                raise _bad(f"{name} field: '{part}' mixes * with a range")
            start, end = low, high if field != 4 else 6
        else:
            start = _value(first, field)
            # 'a/n' means from a to the end, every n (as cronie and APScheduler read it).
            end = _value(last, field) if last else (start if step is None else high)
            if end < start:
                raise _bad(f"{name} field: the range '{part}' runs backwards; write it low-high")
        out.update(range(start, end + 1, int(step or 1)))
    if field == 4 and 7 in out:  # 7 is Sunday too
        out = (out - {7}) | {0}
    return out


def parse(expr: str) -> CronSpec:
    """A 5-field cron expression (or @daily, @hourly …), validated; errors name 'cron'."""
    text = " ".join((expr or "").strip().lower().split())
    if not text:
        raise _bad("is required", True)
    text = MACROS.get(text, text)
    if text.startswith("@"):
        raise _bad(f"'{text}' is not a known macro; use one of {', '.join(MACROS)}")
    parts = text.split(" ")
    if len(parts) != 5:
        raise _bad(
            f"has {len(parts)} field{'s' if len(parts) != 1 else ''}; cron needs 5: "
            "minute hour day-of-month month day-of-week (no seconds or years)",
            True,
        )
    sets = [_values(p, i) for i, p in enumerate(parts)]

    def listed(values: set[int] | None) -> str:
        return "*" if values is None else ",".join(str(v) for v in sorted(values))

    dow = sets[4]
    dow_text = "*" if dow is None else ",".join(WEEKDAYS[d] for d in sorted(dow))
    # Cron (and Vixie) decide "restricted" by the field's first character, not its values.
    either_day = not parts[2].startswith("*") and not parts[4].startswith("*")
    spec = CronSpec(
        expr=text,
        minute=listed(sets[0]),
        hour=listed(sets[1]),
        day=listed(sets[2]),
        month=listed(sets[3]),
        day_of_week=dow_text,
        hour_repeats="*" in parts[1] or "/" in parts[1],
        either_day=either_day,
    )
    days, months = sets[2], sets[3] or set(range(1, 13))
    if days is not None and not either_day and all(min(days) > LONGEST[m] for m in months):
        raise _bad(
            f"day {min(days)} never occurs in {', '.join(MONTHS[m - 1] for m in sorted(months))}"
            "; choose a day those months have, so the schedule ever fires"
        )
    return spec


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; errors name 'timezone'."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.field("timezone", "is required; use an IANA name such as UTC")
    if name not in _zone_names():
        lowered = {z.lower(): z for z in _zone_names()}
        fix = (
            f"did you mean '{lowered[name.lower()]}'?"
            if name.lower() in lowered
            else "use a name like Europe/Berlin, America/New_York or UTC"
        )
        raise ValidationFailed.field("timezone", f"'{name}' is not an IANA time zone; {fix}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.field("timezone", f"'{name}' cannot be loaded") from None


class Cron(CronTrigger):
    """APScheduler's CronTrigger with cron's day-of-week numbering, its day OR rule and the DST
    policy above."""

    def __init__(self, expr: str, timezone: str):
        spec = parse(expr)
        self.spec = spec
        day, dow = (spec.day, "*") if spec.either_day else (spec.day, spec.day_of_week)
        super().__init__(
            minute=spec.minute,
            hour=spec.hour,
            day=day,
            month=spec.month,
            day_of_week=dow,
            timezone=zone(timezone),
        )
        # Cron's OR: a second trigger for the weekdays; the earlier of the two fires.
        self.other = (
            CronTrigger(
                minute=spec.minute,
                hour=spec.hour,
                month=spec.month,
                day_of_week=spec.day_of_week,
                timezone=self.timezone,
            )
            if spec.either_day
            else None
        )

    def _raw_next(self, previous: datetime | None, now: datetime) -> datetime | None:
        found = super().get_next_fire_time(previous, now)
        if self.other is not None:
            alt = self.other.get_next_fire_time(previous, now)
            found = alt if found is None or (alt is not None and alt < found) else found
        return found

    def _second_fold(self, when: datetime) -> bool:
        """A repeated wall time's second occurrence (skipped when the hour is fixed)."""
        return when.fold == 1 and when.replace(fold=0).utcoffset() != when.utcoffset()

    def get_next_fire_time(self, previous_fire_time, now):
        found = self._raw_next(previous_fire_time, now)
        while found is not None and not self.spec.hour_repeats and self._second_fold(found):
            found = self._raw_next(found, found)
        return found


def trigger(expr: str, timezone: str) -> Cron:
    return Cron(expr, timezone)


def iter_fire_times(trig: Cron, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after ``after``, as UTC instants, in order."""
    start = after.astimezone(UTC) + timedelta(microseconds=1)
    found = trig.get_next_fire_time(None, start)
    while found is not None:
        yield found.astimezone(UTC)
        found = trig.get_next_fire_time(found, found)


def next_fire_times(expr: str, tz: str, after: datetime, n: int = 5) -> list[datetime]:
    """The next ``n`` fire times after ``after``, in the schedule's zone (normalized, so a
    skipped 02:30 shows as the 03:30 it really is)."""
    trig = trigger(expr, tz)
    out = []
    for when in iter_fire_times(trig, after):
        out.append(when.astimezone(trig.timezone))
        if len(out) >= n:
            break
    return out


def describe(expr: str) -> str:
    """Human text, e.g. 'Every 15 minutes, between 09:00 and 17:59, Monday through Friday'."""
    from cron_descriptor import Options, get_description

    spec = parse(expr)
    options = Options()
    options.use_24hour_time_format = True
    try:
        return get_description(spec.expr, options)
    except Exception:  # a description is a nicety; the expression itself is valid
        return spec.expr
