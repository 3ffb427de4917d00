"""Typed prompt inputs: validate and coerce what a caller sends against what a prompt declares.

Callers often send everything as strings (query strings, forms, CLIs), so "3" is accepted for an
integer and a JSON string for an array; anything else that doesn't fit is refused with the
expected type and the fix, one error per input.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import TYPE_CHECKING, Any

from tenantry.core.errors import ValidationFailed

if TYPE_CHECKING:  # spec.py imports this module; only the type is needed here
    from tenantry.prompts.spec import InputSpec

_INT_RE = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}
_BOOLEANS = dict.fromkeys(_TRUE, True) | dict.fromkeys(_FALSE, False)
# A value of exactly this Python type, for an input with no bounds, comes out of coercion
# unchanged; that is what JSON callers send, so it is checked first (see _unbounded).
_EXACT = {"string": str, "integer": int, "boolean": bool, "object": dict}
_NUMBERS = (int, float)  # a tuple: ``int | float`` would be built on every call


class InputError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {
        str: "a string", bool: "a boolean", int: "an integer", float: "a number",
        list: "an array", tuple: "an array", dict: "an object", type(None): "null",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _bad(field: str, expected: str, value: Any, fix: str) -> InputError:
    return InputError(field, f"expected {expected}, got {_show(value)} ({_kind(value)}); {fix}")


def _from_json(value: Any, want: type, field: str, expected: str, fix: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad(field, expected, value, fix + " (a string must be valid JSON)") from None
    if isinstance(value, tuple) and want is list:
        value = list(value)
    if not isinstance(value, want):
        raise _bad(field, expected, value, fix)
    return value


def _number(spec: InputSpec, value: Any, field: str) -> int | float:
    integer = spec.type == "integer"
    expected = "an integer" if integer else "a number"
    fix = "pass a whole number such as 3" if integer else "pass a number such as 2.5"
    out: Any = value
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.match(text):
            out = int(text)
        else:
            try:
                out = float(text)
            except ValueError:
                raise _bad(field, expected, value, fix) from None
    if isinstance(out, bool) or not isinstance(out, _NUMBERS):
        raise _bad(field, expected, value, fix)
    if isinstance(out, float):
        if not math.isfinite(out):
            raise _bad(field, expected, value, fix)
        if integer:
            if not out.is_integer():
                raise _bad(field, expected, value, fix)
            out = int(out)
    if spec.minimum is not None and out < spec.minimum:
        raise InputError(field, f"must be at least {spec.minimum:g} (got {out})")
    if spec.maximum is not None and out > spec.maximum:
        raise InputError(field, f"must be at most {spec.maximum:g} (got {out})")
    return out


def _boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise _bad(field, "a boolean", value, "pass true or false")


def _enum(spec: InputSpec, value: Any, field: str) -> Any:
    choices = spec.values or []
    if type(value) is str and value in choices:  # a str only equals a str choice
        return value
    for choice in choices:  # True == 1 in Python: booleans only match booleans
        if (isinstance(choice, bool) == isinstance(value, bool)) and choice == value:
            return choice
    if isinstance(value, str):  # "3" or "yes" from a query string still picks 3 or true
        text = value.strip()
        for choice in choices:
            if str(choice) == text or (
                isinstance(choice, bool) and text.lower() in (_TRUE if choice else _FALSE)
            ):
                return choice
    listed = ", ".join(_show(c) for c in choices)
    raise InputError(field, f"{_show(value)} is not one of the allowed values: {listed}")


def _length(spec: InputSpec, value: Any, field: str, unit: str) -> None:
    n = len(value)
    if spec.min_length is not None and n < spec.min_length:
        raise InputError(field, f"must have at least {spec.min_length} {unit} (has {n})")
    if spec.max_length is not None and n > spec.max_length:
        raise InputError(field, f"must have at most {spec.max_length} {unit} (has {n})")


def _unbounded(spec: InputSpec) -> bool:
    return (
        spec.min_length is None
        and spec.max_length is None
        and spec.minimum is None
        and spec.maximum is None
    )


def _coerce(spec: InputSpec, value: Any, field: str, errors: list[InputError]) -> Any:
    """The coerced value; element errors of arrays are collected, others raised."""
    t = spec.type
    if t == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _bad(field, "a string", value, "pass text")
        value = value if isinstance(value, str) else str(value)
        _length(spec, value, field, "characters")
        return value
    if t in ("integer", "number"):
        return _number(spec, value, field)
    if t == "boolean":
        return _boolean(value, field)
    if t == "enum":
        return _enum(spec, value, field)
    if t == "object":
        return _from_json(value, dict, field, "an object", 'pass a mapping such as {"a": 1}')
    # array
    items = _from_json(value, list, field, "an array", 'pass a list such as ["a", "b"]')
    _length(spec, items, field, "items")
    if spec.items is None:
        return items
    exact = _EXACT.get(spec.items.type)
    if exact is not None and _unbounded(spec.items) and set(map(type, items)) <= {exact}:
        return list(items)  # every item already exact
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_coerce(spec.items, item, f"{field}[{i}]", errors))
        except InputError as exc:
            errors.append(exc)
    return out


def coerce_value(spec: InputSpec, value: Any, field: str) -> Any:
    """One value against its spec; raises InputError naming ``field`` (or the first bad item)."""
    errors: list[InputError] = []
    out = _coerce(spec, value, field, errors)
    if errors:
        raise errors[0]
    return out


def extra_inputs(declared: dict[str, InputSpec], given: dict[str, Any]) -> list[str]:
    """Names given but not declared, in the order given."""
    return [name for name in given if name not in declared]


def coerce_inputs(
    declared: dict[str, InputSpec], given: dict[str, Any] | None, *, allow_extra: bool = False
) -> dict[str, Any]:
    """Every declared input, coerced, with defaults applied (deep copies); optional inputs that
    are missing and have no default are ``None`` so templates can test them with ``if``.

    Undeclared inputs are refused, or dropped with ``allow_extra`` (``extra_inputs`` says which).
    Raises ValidationFailed with one entry per bad input, field ``inputs.<name>``.
    """
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ValidationFailed.field(
            "inputs", f"must be an object of name → value, got {_kind(given)}"
        )
    errors: list[InputError] = []
    extra = [] if allow_extra else extra_inputs(declared, given)
    if extra:
        known = ", ".join(declared) or "none"
        for name in extra:
            errors.append(InputError(
                f"inputs.{name}",
                f"'{name}' is not an input of this prompt (declared: {known}); remove it "
                "or declare it under `inputs`",
            ))  # fmt: skip
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        value = given.get(name)
        if type(value) is _EXACT.get(spec.type) and _unbounded(spec):
            out[name] = value
            continue
        field = f"inputs.{name}"
        if value is None:
            if spec.default is not None:
                out[name] = copy.deepcopy(spec.default)
            elif spec.is_required:
                desc = f" ({spec.description})" if spec.description else ""
                errors.append(InputError(field, f"is required{desc}; pass a {spec.type} value"))
            else:
                out[name] = None
            continue
        try:
            out[name] = _coerce(spec, value, field, errors)
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise ValidationFailed(
            "; ".join(str(e) for e in errors),
            errors=[{"field": e.field, "message": e.message} for e in errors],
        )
    return out
