"""The pipeline form: flat HTML fields ⇄ a spec. Empty optional fields are left out."""

from __future__ import annotations

import json
from typing import Any

FILTER_ROWS = 3


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _scalar(text: str) -> Any:
    """'42' → 42, '1.5' → 1.5, 'true' → True; anything else stays text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def spec_from_form(form) -> dict[str, Any]:
    get = lambda name: str(form.get(name, "")).strip()  # noqa: E731
    spec: dict[str, Any] = {
        "mode": get("mode") or "table",
        "write_disposition": get("write_disposition") or "append",
        "schema_contract": get("schema_contract") or "evolve",
        "dataset": get("dataset") or "raw",
        "table_prefix": get("table_prefix"),
        "primary_key": _split(get("primary_key")),
        "retry": {
            "max_attempts": get("max_attempts") or 3,
            "backoff_seconds": get("backoff_seconds") or 30,
        },
    }
    if get("batch_size"):
        spec["batch_size"] = get("batch_size")
    if get("table_name"):
        spec["table_name"] = get("table_name")
    if spec["mode"] == "table":
        spec["table"] = get("table") or None
        if get("cursor_column"):
            initial = get("initial_value")
            spec["incremental"] = {
                "cursor_column": get("cursor_column"),
                "initial_value": _scalar(initial) if initial else None,
            }
        filters = []
        for i in range(FILTER_ROWS):
            column, op, raw = (
                get(f"filter_{i}_column"),
                get(f"filter_{i}_operator"),
                get(f"filter_{i}_value"),
            )
            if not column:
                continue
            value: Any = (
                [_scalar(v) for v in _split(raw)] if op in ("in", "not_in") else _scalar(raw)
            )
            filters.append({"column": column, "operator": op or "eq", "value": value})
        spec["filters"] = filters
    if spec["mode"] == "database":
        spec["tables"] = _split(get("tables"))
    return spec


def form_values(spec: dict[str, Any]) -> dict[str, Any]:
    """A saved spec as the form's flat values."""
    values = {k: v for k, v in spec.items() if not isinstance(v, (dict, list))}
    values["primary_key"] = ", ".join(spec.get("primary_key") or [])
    values["tables"] = ", ".join(spec.get("tables") or [])
    inc = spec.get("incremental") or {}
    values["cursor_column"] = inc.get("cursor_column", "")
    initial = inc.get("initial_value")
    values["initial_value"] = "" if initial is None else initial
    retry = spec.get("retry") or {}
    values["max_attempts"] = retry.get("max_attempts", 3)
    values["backoff_seconds"] = retry.get("backoff_seconds", 30)
    for i, f in enumerate(spec.get("filters") or []):
        values[f"filter_{i}_column"] = f["column"]
        values[f"filter_{i}_operator"] = f["operator"]
        v = f["value"]
        values[f"filter_{i}_value"] = ", ".join(map(str, v)) if isinstance(v, list) else v
    return values


def field_errors(exc) -> dict[str, str]:
    """API field names ("spec.retry.max_attempts") → form field names ("max_attempts")."""
    if not exc.errors:
        return {"_form": exc.detail}
    out: dict[str, str] = {}
    for e in exc.errors:
        name = e["field"].removeprefix("spec.").removeprefix("retry.")
        name = {"incremental.cursor_column": "cursor_column"}.get(name, name)
        if name.startswith("filters"):
            name = "filters"
        out[name] = e["message"]
    return out
