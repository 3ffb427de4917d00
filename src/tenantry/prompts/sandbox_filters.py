"""The filters user templates get: Jinja's own plus ``json``, ``yaml`` and a ``default`` that
treats empty values as missing — every one wrapped by ``sandbox_checks.guard_filter``, and the
ones that walk a whole value in Python (``yaml``, ``pprint``) checking the deadline as they go."""

from __future__ import annotations

import json
import pprint
from typing import Any

import yaml
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.runtime import Undefined

from tenantry.prompts import sandbox_checks as checks
from tenantry.prompts import sandbox_limits as limits
from tenantry.prompts.spec import _Dumper as _SpecDumper

ITER = "tenantry:iter"  # a filter name templates cannot spell, wrapped around loop iterables


def _json(value: Any, indent: int | None = None) -> str:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, ensure_ascii=False, indent=indent)


class _YamlDumper(_SpecDumper):
    """spec.yaml_value's dumper, checking the deadline at every value and node: PyYAML is
    Python, some microseconds a node (the filter's input is size-checked before)."""

    def represent_data(self, data: Any) -> Any:
        limits.tick()
        return super().represent_data(data)

    def serialize_node(self, node: Any, parent: Any, index: Any) -> None:
        limits.tick()
        super().serialize_node(node, parent, index)


def _yaml(value: Any) -> str:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    # As spec.yaml_value, with the ticking dumper.
    text = yaml.dump(
        value, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return text.removesuffix("\n...\n").removesuffix("\n")


class _Printer(pprint.PrettyPrinter):
    """Jinja's pprint filter (pprint.pformat), checking the deadline at every value."""

    def format(self, obj: Any, context: Any, maxlevels: Any, level: Any) -> Any:
        limits.tick()
        return super().format(obj, context, maxlevels, level)


def _pprint(value: Any) -> str:
    return _Printer().pformat(value)


def _default(value: Any, fallback: Any = "", boolean: bool = True) -> Any:
    """Undefined and None are missing; with ``boolean`` (the default) so are "", [] and {}
    (but not 0 or false, which are real values)."""
    if isinstance(value, Undefined) or value is None:
        return fallback
    if boolean and isinstance(value, str | list | tuple | dict) and not value:
        return fallback
    return value


FILTERS = {
    name: checks.guard_filter(name, f)
    for name, f in {
        **DEFAULT_FILTERS,
        "json": _json,
        "yaml": _yaml,
        "pprint": _pprint,
        "default": _default,
        "d": _default,
    }.items()  # fmt: skip
}
FILTERS[ITER] = limits.guard_iter
