"""HTML forms generated from a connection kind's config schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    input: str  # text | number | password | select
    required: bool
    default: Any
    options: tuple[str, ...] = ()
    hint: str = ""


def _resolve(prop: dict[str, Any]) -> dict[str, Any]:
    """Optional fields are ``anyOf: [<type>, null]``; look at the non-null branch."""
    for option in prop.get("anyOf", []):
        if option.get("type") != "null":
            return {**prop, **option}
    return prop


def form_fields(model: type[BaseModel]) -> list[FormField]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(raw)
        if prop.get("writeOnly"):
            kind = "password"
        elif "enum" in prop:
            kind = "select"
        elif prop.get("type") == "integer":
            kind = "number"
        else:
            kind = "text"
        fields.append(
            FormField(
                name=name,
                label=raw.get("title") or name.replace("_", " ").capitalize(),
                input=kind,
                required=name in required,
                default=raw.get("default"),
                options=tuple(prop.get("enum", ())),
                hint=raw.get("description", ""),
            )
        )
    return fields


def config_from_form(model: type[BaseModel], form) -> dict[str, Any]:
    """The submitted values; empty optional fields are left out (secrets: kept, on edit)."""
    data: dict[str, Any] = {}
    for field in form_fields(model):
        value = form.get(field.name)
        if isinstance(value, str) and value.strip() != "":
            data[field.name] = value.strip() if field.input != "password" else value
    return data
