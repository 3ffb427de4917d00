"""The transformation and source forms: flat HTML fields ⇄ a spec, and errors back onto fields.

Columns are repeatable rows ``col_<i>_name``, ``col_<i>_description``, ``col_<i>_not_null``,
``col_<i>_unique``, ``col_<i>_accepted`` (comma-separated values), ``col_<i>_rel_to`` and
``col_<i>_rel_field``, ``col_<i>_warn``; a row without a name is ignored.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from tenantry.core.errors import TenantryError, ValidationFailed
from tenantry.transforms.schemas import TransformIn, TransformSpec, check_kind

COLUMN_FIELD = re.compile(r"col_(\d+)_name")
SPARE_COLUMN_ROWS = 2


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _value(text: str) -> Any:
    """Accepted values as typed: 42 → 42, 1.5 → 1.5, anything else stays text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _columns(form) -> list[dict[str, Any]]:
    get = lambda name: str(form.get(name, "")).strip()  # noqa: E731
    rows = sorted(int(m.group(1)) for k in form if (m := COLUMN_FIELD.fullmatch(k)))
    columns = []
    for i in rows:
        name = get(f"col_{i}_name")
        if not name:
            continue
        severity = "warn" if form.get(f"col_{i}_warn") == "on" else "error"
        tests: list[dict[str, Any]] = []
        for kind in ("not_null", "unique"):
            if form.get(f"col_{i}_{kind}") == "on":
                tests.append({"type": kind, "severity": severity})
        accepted = _split(get(f"col_{i}_accepted"))
        if accepted:
            values = [_value(v) for v in accepted]
            tests.append({"type": "accepted_values", "values": values, "severity": severity})
        to, field = get(f"col_{i}_rel_to"), get(f"col_{i}_rel_field")
        if to or field:
            tests.append({"type": "relationships", "to": to, "field": field, "severity": severity})
        columns.append({"name": name, "description": get(f"col_{i}_description"), "tests": tests})
    return columns


def spec_from_form(form, kind: str) -> dict[str, Any]:
    get = lambda name: str(form.get(name, "")).strip()  # noqa: E731
    spec: dict[str, Any] = {
        "schema": get("schema") or "staging",
        "unique_key": _split(get("unique_key")),
        "tags": _split(get("tags")),
        "columns": _columns(form),
    }
    if kind == "snapshot":
        strategy = get("snapshot_strategy") or "timestamp"
        snapshot: dict[str, Any] = {"strategy": strategy}
        if strategy == "timestamp":
            snapshot["updated_at"] = get("updated_at") or None
        else:
            cols = get("check_cols")
            snapshot["check_cols"] = "all" if cols.lower() == "all" else (_split(cols) or None)
        spec["snapshot"] = snapshot
    else:
        spec["materialization"] = get("materialization") or "view"
        if spec["materialization"] == "incremental" and get("incremental_strategy"):
            spec["incremental_strategy"] = get("incremental_strategy")
    return spec


def form_values(t: dict[str, Any]) -> dict[str, Any]:
    """A saved transformation as the form's flat values."""
    spec = t.get("spec") or {}
    snapshot = spec.get("snapshot") or {}
    check_cols = snapshot.get("check_cols")
    return {
        "name": t["name"],
        "kind": t["kind"],
        "description": t["description"],
        "sql": t["sql"],
        "materialization": spec.get("materialization", "view"),
        "schema": spec.get("schema", "staging"),
        "unique_key": ", ".join(spec.get("unique_key") or []),
        "incremental_strategy": spec.get("incremental_strategy") or "",
        "tags": ", ".join(spec.get("tags") or []),
        "snapshot_strategy": snapshot.get("strategy", "timestamp"),
        "updated_at": snapshot.get("updated_at") or "",
        "check_cols": check_cols if isinstance(check_cols, str) else ", ".join(check_cols or []),
        "columns": column_rows(spec.get("columns") or []),
    }


def column_rows(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Columns as the rows of the form (one per column, plus spare blank rows)."""
    rows = []
    for c in columns:
        row: dict[str, Any] = {"name": c["name"], "description": c.get("description", "")}
        for test in c.get("tests") or []:
            if test["type"] in ("not_null", "unique"):
                row[test["type"]] = True
            elif test["type"] == "accepted_values":
                row["accepted"] = ", ".join(str(v) for v in test["values"])
            else:
                row["rel_to"], row["rel_field"] = test.get("to", ""), test.get("field", "")
            if test.get("severity") == "warn":
                row["warn"] = True
        rows.append(row)
    return rows + [{} for _ in range(SPARE_COLUMN_ROWS)]


def posted_values(form, kind: str) -> dict[str, Any]:
    """What the user sent, to show again with the errors."""
    values = {k: str(form.get(k, "")) for k in form if not COLUMN_FIELD.match(k)}
    values["kind"] = kind
    values["columns"] = column_rows(_columns(form))
    return values


def _pydantic_error(exc: PydanticValidationError) -> ValidationFailed:
    e = exc.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    message = e["msg"].removeprefix("Value error, ")
    if not loc and ": " in message:
        loc, message = message.split(": ", 1)
    return ValidationFailed.field(loc or "spec", message)


def transform_in(form, kind: str) -> TransformIn:
    """The form as a ``TransformIn``; a ``ValidationFailed`` naming the field otherwise."""
    if not str(form.get("sql", "")).strip():
        raise ValidationFailed.field("sql", "there is no SQL; write the SELECT this model builds")
    spec = spec_from_form(form, kind)
    try:
        parsed = TransformSpec.model_validate(spec)
        check_kind(kind, parsed)
    except PydanticValidationError as exc:
        error = _pydantic_error(exc)
        field = error.errors[0]["field"]
        raise ValidationFailed.field(
            field if field.startswith("spec") else f"spec.{field}", error.errors[0]["message"]
        ) from None
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationFailed.field(field, message) from None
    try:
        return TransformIn(
            name=str(form.get("name", "")),
            kind=kind,
            sql=str(form.get("sql", "")),
            description=str(form.get("description", "")).strip(),
            spec=parsed,
        )
    except PydanticValidationError as exc:
        raise _pydantic_error(exc) from None


def field_errors(exc: TenantryError) -> dict[str, str]:
    """API field names ("spec.snapshot.updated_at") → the form's ("updated_at")."""
    if not exc.errors:
        return {"_form": exc.detail}
    out: dict[str, str] = {}
    for e in exc.errors:
        name = e["field"].removeprefix("spec.")
        if name.startswith("columns"):
            name = "columns"
        elif name.startswith("snapshot"):
            name = name.removeprefix("snapshot").lstrip(".") or "snapshot_strategy"
            name = {"strategy": "snapshot_strategy"}.get(name, name)
        elif name == "spec":
            name = "_form"
        out[name] = e["message"]
    return out


def freshness(form, prefix: str) -> dict[str, Any] | None:
    count = str(form.get(f"{prefix}_count", "")).strip()
    if not count:
        return None
    return {"count": count, "period": str(form.get(f"{prefix}_period", "")) or "hour"}
