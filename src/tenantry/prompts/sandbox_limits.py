"""Limits for rendering user templates: time, and the size of every value built.

The sandbox blocks Python internals but not cost. Here every for-loop, call and filter checks
a deadline (so loops that print nothing still stop), and operations that build strings or
containers are checked *before* Python builds them (so memory can't explode long before the
output limit is reached). The budget of the render in progress lives in a context variable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2.utils import Namespace

MAX_RANGE = 100_000
MAX_VALUE_CHARS = 1_000_000  # any one intermediate string/list; max_chars raises it if larger
_WIDE_FORMAT = re.compile(
    r"%[-+ #0]*(?:\*|\d{6,})|%[-+ #0]*\d*\.(?:\*|\d{6,})|\{[^{}]*:[^{}]*(?:\d{6,}|\{)"
)


class Refused(Exception):
    """A sandbox rule or a limit; ``message`` is what the user sees."""

    def __init__(self, message: str, *, lineno: int | None = None, name: str | None = None):
        super().__init__(message)
        self.message, self.lineno, self.name = message, lineno, name


@dataclass
class Budget:
    deadline: float
    timeout: float
    max_chars: int
    remaining: int  # output characters left
    max_value: int


BUDGET: ContextVar[Budget | None] = ContextVar("tenantry_render_budget", default=None)


def tick() -> None:
    b = BUDGET.get()
    if b is not None and time.monotonic() > b.deadline:
        raise Refused(f"rendering took longer than {b.timeout:g} s; simplify loops")


def _max_value() -> int:
    b = BUDGET.get()
    return b.max_value if b is not None else MAX_VALUE_CHARS


def _too_big(n: int) -> None:
    limit = _max_value()
    if n > limit:
        raise Refused(
            f"building a value of {n:,} characters or items (limit {limit:,}) "
            "is not allowed in templates (sandbox)"
        )


_CONTAINERS = (list, tuple, dict, set, frozenset)  # a tuple: ``list | tuple`` is built per call


def _weight(value: Any, memo: dict[int, int] | None = None) -> int:
    """Roughly how long ``str(value)`` would be: containers print every element, and a list
    holding the same big string a thousand times prints it a thousand times."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Namespace):
        value = value._Namespace__attrs  # type: ignore[attr-defined]
    if not isinstance(value, _CONTAINERS):
        return 0
    memo = {} if memo is None else memo
    if id(value) not in memo:
        memo[id(value)] = 0  # a container inside itself
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        memo[id(value)] = len(value) + sum(_weight(v, memo) for v in items)
    return memo[id(value)]


def sized(value: Any) -> Any:
    _too_big(_weight(value))
    return value


def finalize(value: Any) -> Any:
    # Every {{ expression }}: str() of a container built in the template could be huge.
    if not isinstance(value, str):
        _too_big(_weight(value))
    return value


_SCALARS = frozenset({int, float, bool, type(None)})


def text(value: Any) -> str:
    """``str(finalize(value))`` in one call, for every {{ expression }} at runtime (the
    sandbox's code generator emits it): plain strings and numbers, nearly all output, skip
    the weighing."""
    if type(value) is str:
        return value
    if type(value) not in _SCALARS:
        _too_big(_weight(value))
    return str(value)  # str() of a StrictUndefined raises, naming it


def _check_format(fmt: Any, marker: str, values: Iterable[Any]) -> None:
    if isinstance(fmt, str):
        if _WIDE_FORMAT.search(fmt):
            raise Refused("a format width of 100000 or more is not allowed in templates (sandbox)")
        _too_big(len(fmt) + fmt.count(marker) * max(map(_weight, values), default=0))


def _check_text(name: str, s: str, args: tuple, kwargs: dict) -> None:
    """Refuse string operations (methods and filters alike) whose result would be huge,
    before Python builds it."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        count = s.count(args[0]) if args[0] else len(s) + 1
        _too_big(len(s) + count * len(str(args[1])))
    elif name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _too_big(len(s) + (s.count("\n") + 1) * step)
    elif name == "wordwrap":
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n"
        _too_big(len(s) * (1 + len(str(wrap))) // 2)
    elif name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
        for a in (*args, *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool):
                _too_big(a * (s.count("\t") + 1 if name == "expandtabs" else 1))


def check_method(name: str, s: str, args: tuple, kwargs: dict) -> tuple:
    """Checks a str method call; returns its (possibly materialised) arguments."""
    if name == "format":
        _check_format(s, "{", (*args, *kwargs.values()))
    elif name == "format_map" and args and isinstance(args[0], dict):
        _check_format(s, "{", args[0].values())
    elif name == "join" and args:
        items = list(args[0])  # a generator could yield the same big string many times
        _too_big(sum(map(_weight, items)) + len(s) * len(items))
        args = (items, *args[1:])
    else:
        _check_text(name, s, args, kwargs)
    return args


# Filters that turn their value into text: str() of a container is checked before they run.
_TEXT_FILTERS = frozenset(
    {"string", "e", "escape", "forceescape", "upper", "lower", "title", "capitalize", "trim"}
    | {"striptags", "replace", "center", "indent", "wordwrap", "truncate", "urlize", "format"}
    | {"join", "tojson", "json", "yaml", "pprint", "wordcount", "urlencode", "list"}
)


def _check_filter(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """``args[at]`` is the filtered value; returns the (possibly materialised) arguments."""
    value, rest = args[at], args[at + 1 :]
    if name == "join" and not isinstance(value, str | list | tuple | dict):
        value = list(value)
        args = (*args[:at], value, *rest)
    _too_big(_weight(value))
    if name == "format":
        _check_format(value, "%", kwargs.values() or rest)
    elif name == "join":
        sep = rest[0] if rest else kwargs.get("d", "")
        _too_big(_weight(value) + len(str(sep)) * len(value))
    elif isinstance(value, str):
        _check_text(name, value, rest, kwargs)
    return args


def _ticking(iterable: Iterable[Any], b: Budget) -> Iterable[Any]:
    deadline = b.deadline
    for n, item in enumerate(iterable, 1):
        if not n & 31 and time.monotonic() > deadline:
            raise Refused(f"rendering took longer than {b.timeout:g} s; simplify loops")
        yield item


_SIZED = frozenset({list, tuple, dict, str, range})


def guard_iter(iterable: Any) -> Any:
    tick()
    b = BUDGET.get()
    if b is None or (type(iterable) in _SIZED and len(iterable) < 32):
        return iterable  # _ticking would not check before the 32nd item anyway
    return _ticking(iterable, b)


def safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise Refused(
            f"range() of {len(rng):,} items is not allowed in templates (sandbox); "
            f"the limit is {MAX_RANGE:,}"
        )
    return rng


def guard_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if hasattr(f, "jinja_pass_arg") else 0  # context/environment comes first
    text = name in _TEXT_FILTERS

    @wraps(f)  # keeps jinja_pass_arg
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if text and len(args) > skip:
            args = _check_filter(name, args, kwargs, skip)
        return sized(f(*args, **kwargs))

    return guarded


class Buffer(list):
    """Captured output (macros, ``{% set %}`` blocks, filter blocks), size-checked as it
    grows: a template could otherwise double a string in a loop until memory runs out."""

    def __init__(self) -> None:
        super().__init__()
        self.size, self.limit = 0, _max_value()

    def append(self, s: str) -> None:
        self.size += len(s)
        if self.size > self.limit:
            _too_big(self.size)
        super().append(s)

    def extend(self, items: Iterable[str]) -> None:
        for s in items:
            self.append(s)


def concat(values: tuple[Any, ...]) -> str:
    _too_big(sum(map(_weight, values)))
    return "".join([str(v) for v in values])  # str() of a StrictUndefined raises, naming it


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Before ``left <operator> right`` (the intercepted ``+ * ** %``) runs."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
    if operator == "**" and ints and right > 0 and abs(left) > 1:
        if right * left.bit_length() > 100_000:
            raise Refused(f"{left} ** {right} is too large to compute in templates (sandbox)")
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > 100_000:
            raise Refused("multiplying numbers this large is not allowed in templates (sandbox)")
    elif operator == "*":
        seq, n = (left, right) if isinstance(left, str | list | tuple) else (right, left)
        if isinstance(seq, str | list | tuple) and isinstance(n, int):
            _too_big(_weight(seq) * n)
    elif operator == "+" and isinstance(left, str | list | tuple) and type(left) is type(right):
        _too_big(_weight(left) + _weight(right))
    elif operator == "%" and isinstance(left, str):
        values = right.values() if isinstance(right, dict) else right
        _check_format(left, "%", values if isinstance(right, tuple | dict) else (right,))


def start(max_chars: int, timeout_seconds: float) -> Budget:
    deadline = time.monotonic() + timeout_seconds
    return Budget(deadline, timeout_seconds, max_chars, max_chars, max(max_chars, MAX_VALUE_CHARS))
