"""What a response says about its members (Cube's ``annotation``) and its rows, shaped like Cube's
REST API: members as keys, times as ``YYYY-MM-DDTHH:mm:ss.SSS``, numbers as strings."""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tenantry.semantic.compiler import dates
from tenantry.semantic.compiler.members import Ref, resolve_path, view_name_for
from tenantry.semantic.schema.model import Cube, DataModel, Measure, View

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(name: str) -> list[str]:
    return [w.lower() for part in name.split("_") for w in _WORD.findall(part)]


def titleize(name: str) -> str:
    """'line_items' → 'Line Items' (Cube's cube titles)."""
    return " ".join(w.capitalize() for w in words(name)) or name


def humanize(name: str) -> str:
    """'created_at' → 'Created at' (Cube's member titles)."""
    text = " ".join(words(name)) or name
    return text[:1].upper() + text[1:]


def owner_title(model: DataModel, ref: Ref) -> str:
    if ref.view is not None:
        return ref.view.title or titleize(ref.view.name)
    return ref.cube.title or titleize(ref.cube.name)


def member_titles(model: DataModel, ref: Ref) -> tuple[str, str]:
    own = ref.member.title or humanize(ref.name.split(".")[1])
    short = getattr(ref.member, "short_title", None) or own
    return f"{owner_title(model, ref)} {own}", short


def drill_members(model: DataModel, cube: Cube, measure: Measure, view: View | None) -> list[str]:
    out = []
    for raw in measure.drill_members:
        name = view_name_for(view, resolve_path(model, cube, raw))
        if name and name not in out:
            out.append(name)
    return out


def measure_info(model: DataModel, ref: Ref) -> dict[str, Any]:
    title, short = member_titles(model, ref)
    measure: Measure = ref.member  # type: ignore[assignment]
    drills = drill_members(model, ref.cube, measure, ref.view)
    info: dict[str, Any] = {
        "title": title,
        "shortTitle": short,
        "type": "number",
        "drillMembers": drills,
        "drillMembersGrouped": {"measures": [], "dimensions": drills},
    }
    if measure.format:
        info["format"] = measure.format
    if measure.meta:
        info["meta"] = measure.meta
    return info


def dimension_info(model: DataModel, ref: Ref) -> dict[str, Any]:
    title, short = member_titles(model, ref)
    info: dict[str, Any] = {"title": title, "shortTitle": short, "type": ref.type}
    if getattr(ref.member, "format", None):
        info["format"] = ref.member.format
    if getattr(ref.member, "meta", None):
        info["meta"] = ref.member.meta
    return info


def annotation(model: DataModel, plan) -> dict[str, dict]:
    out: dict[str, dict] = {"measures": {}, "dimensions": {}, "segments": {}, "timeDimensions": {}}
    for m in plan.measures:
        out["measures"][m.key] = measure_info(model, m.ref)
    for d in plan.dims:
        if d.granularity is None:
            out["dimensions"][d.key] = dimension_info(model, d.ref)
            continue
        info = dimension_info(model, d.ref)
        out["timeDimensions"][d.key] = {
            **info,
            "granularity": {
                "name": d.granularity,
                "title": d.granularity,
                "interval": dates.INTERVALS[d.granularity],
            },
        }
        for key in d.also:
            out["timeDimensions"][key] = info
    for ref in plan.refs:
        if ref.kind == "segment" and ref.name in plan.query.segments:
            title, short = member_titles(model, ref)
            out["segments"][ref.name] = {"title": title, "shortTitle": short}
    return out


# -- rows ---------------------------------------------------------------------------------


def number_text(value: Any) -> Any:
    """123 → '123', 12.50 → '12.5', 1e-07 → '0.0000001': the same text from every engine."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        # 15 significant digits: what a double holds exactly; drops sums' binary noise
        # (127187.50999999995 → 127187.51), as PostgreSQL's numeric would show it.
        value = Decimal(format(value, ".15g"))
    elif not isinstance(value, Decimal):
        try:
            value = Decimal(str(value).strip())
        except InvalidOperation:
            return str(value)
        if not value.is_finite():
            return str(value)
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def time_text(value: Any, tz: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dates.zone(tz)).replace(tzinfo=None)
        return dates.fmt(value)
    if isinstance(value, dt.date):
        return dates.fmt(dt.datetime(value.year, value.month, value.day))
    try:
        return time_text(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")), tz)
    except ValueError:
        return str(value)


def boolean_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "t", "1", "yes"):
        return True
    if text in ("false", "f", "0", "no"):
        return False
    return value


def string_value(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal):
        return number_text(value)
    return str(value)


FORMATTERS = {"number": number_text, "boolean": boolean_value, "string": string_value}


def shape_rows(compiled, columns: list[str], rows: list) -> list[dict]:
    """Warehouse rows → Cube data rows keyed by member (see the module docstring)."""
    by_alias = {alias: i for i, (alias, _) in enumerate(compiled.columns)}
    positions = []
    for i, name in enumerate(columns):
        if name in by_alias:
            positions.append((i, by_alias[name]))
        elif len(columns) == len(compiled.columns):
            positions.append((i, i))
    tz = compiled.normalized.get("timezone", "UTC")
    plan = [
        (
            i,
            compiled.columns[j][1],
            compiled.column_types.get(compiled.columns[j][0], "string"),
            compiled.also.get(compiled.columns[j][0], []),
        )
        for i, j in positions
    ]
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for i, key, kind, also in plan:
            raw = row[i]
            value = time_text(raw, tz) if kind == "time" else FORMATTERS[kind](raw)
            item[key] = value
            for extra in also:
                item[extra] = value
        out.append(item)
    return out
