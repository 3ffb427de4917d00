"""Limits for rendering user templates: time, and the size of every value built.

The sandbox blocks Python internals but not cost. Here every for-loop, call and filter checks
a deadline (so loops that print nothing still stop), and operations that build strings or
containers are checked *before* Python builds them (so memory can't explode long before the
output limit is reached). The budget of the render in progress lives in a context variable.

Lazy values (what ``map``, ``select``, ``batch``, ``slice``... return) are the subtle part: they
weigh nothing until something (``|list``, ``|join``, ``|sum``, ``dict(...)``) drains them in
one C call that checks nothing. So every iterator a filter or call returns is wrapped in
``Counted``, which counts what it yields against the value limit and checks the deadline as it
goes; filters that walk their input in Python (``sum``, ``max``, ``select``...) get it through
a ticking iterator; and filters whose arguments say how much to build (``slice(n)``,
``batch(n)``, widths, indents, ``round`` digits) are checked before they run.
"""

from __future__ import annotations

import time
from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace
from markupsafe import Markup

MAX_RANGE = 100_000  # range(), slice()/batch() pieces, items sorted or dumped (yaml, pprint)
MAX_VALUE_CHARS = 1_000_000  # any one intermediate string/list; max_chars raises it if larger


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


def _late(b: Budget) -> Refused:
    return Refused(f"rendering took longer than {b.timeout:g} s; simplify loops")


def tick() -> None:
    b = BUDGET.get()
    if b is not None and time.monotonic() > b.deadline:
        raise _late(b)


def max_value() -> int:
    b = BUDGET.get()
    return b.max_value if b is not None else MAX_VALUE_CHARS


def too_big(n: int) -> None:
    limit = max_value()
    if n > limit:
        raise Refused(
            f"building a value of {n:,} characters or items (limit {limit:,}) "
            "is not allowed in templates (sandbox)"
        )


def over(what: str, n: int, limit: int) -> None:
    """``what`` names the count as ``{n}``: "slice() into {n} pieces"."""
    if n > limit:
        what = what.format(n=f"{n:,}")
        raise Refused(f"{what} is not allowed in templates (sandbox); the limit is {limit:,}")


CONTAINERS = (list, tuple, dict, set, frozenset)  # a tuple: ``list | tuple`` is built per call


def weight(value: Any, memo: dict[int, int] | None = None) -> int:
    """Roughly how long ``str(value)`` would be: containers print every element, and a list
    holding the same big string a thousand times prints it a thousand times. Numbers of up to
    64 bits weigh nothing (at most 20 digits, like a float's 24); bigger ones their digits."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        bits = value.bit_length()
        return bits // 3 if bits > 64 else 0  # 3 bits per digit: a little over the truth
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Namespace):
        value = value._Namespace__attrs  # type: ignore[attr-defined]
    if not isinstance(value, CONTAINERS):
        return 0
    memo = {} if memo is None else memo
    if id(value) not in memo:
        memo[id(value)] = 0  # a container inside itself
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        memo[id(value)] = len(value) + sum(weight(v, memo) for v in items)
    return memo[id(value)]


# --- lazy values ----------------------------------------------------------------------------


class Counted:
    """An iterator a filter or call returned, counted as it is drained: every item it yields
    (and its weight) counts against the value limit, as if a list were being built, and every
    32nd checks the deadline. A for-loop, which keeps nothing, iterates the inner one."""

    __slots__ = ("_inner", "_budget", "_left", "_n")  # underscored: templates can't reach them

    def __init__(self, inner: Iterator[Any], budget: Budget):
        self._inner, self._budget, self._left, self._n = inner, budget, budget.max_value, 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> Any:
        item = next(self._inner)
        self._left -= 1 + weight(item)
        if self._left < 0:
            too_big(self._budget.max_value - self._left)
        self._n += 1
        if not self._n & 31 and time.monotonic() > self._budget.deadline:
            raise _late(self._budget)
        return item

    def __repr__(self) -> str:  # what {{ x|map(...) }} prints, as in plain Jinja
        return repr(self._inner)

    def __getattr__(self, name: str) -> Any:
        # Only called for names Counted lacks: a generator's internals stay refused by name.
        if name.startswith(("gi_", "ag_", "cr_")):
            raise SecurityError(f"access to attribute `{name}` of a generator value")
        raise AttributeError(name)


def _ticking(iterable: Iterable[Any], b: Budget) -> Iterator[Any]:
    deadline = b.deadline
    for n, item in enumerate(iterable, 1):
        if not n & 31 and time.monotonic() > deadline:
            raise _late(b)
        yield item


_SIZED = frozenset({list, tuple, dict, str, range})
COLLECTIONS = (list, tuple, dict, str, range, set, frozenset, KeysView, ValuesView, ItemsView)


def guard_iter(iterable: Any) -> Any:
    """Around every for-loop's iterable."""
    tick()
    b = BUDGET.get()
    if b is None or (type(iterable) in _SIZED and len(iterable) < 32):
        return iterable  # _ticking would not check before the 32nd item anyway
    if type(iterable) is Counted:
        iterable = iterable._inner  # the loop keeps nothing: only the deadline matters
    return _ticking(iterable, b)


def feed(value: Any) -> Any:
    """A filter's input that it walks in Python or C (sum, max, select...): through a ticking
    iterator, so the walk checks the deadline. Other values (None, numbers) are left alone,
    for the filter's own handling."""
    b = BUDGET.get()
    if b is None or type(value) is Counted:
        return value
    if isinstance(value, Iterator) or (isinstance(value, COLLECTIONS) and len(value) >= 32):
        return _ticking(value, b)
    return value


def drain(value: Any) -> list[Any] | tuple[Any, ...]:
    """``list(value)``, counted as it is built."""
    if isinstance(value, list | tuple):
        return value
    b = BUDGET.get()
    if b is not None and type(value) is not Counted:
        value = Counted(iter(value), b)
    return list(value)


# Result types that are never iterators: skip the (slower) Iterator check for them.
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple, dict, Markup})


def sized(value: Any) -> Any:
    """Every filter and call result: checked, or (an iterator) wrapped in Counted."""
    if type(value) not in _PLAIN and isinstance(value, Iterator) and type(value) is not Counted:
        b = BUDGET.get()
        return value if b is None else Counted(value, b)
    too_big(weight(value))
    return value


def finalize(value: Any) -> Any:
    # Every {{ expression }}: str() of a container built in the template could be huge.
    if not isinstance(value, str):
        too_big(weight(value))
    return value


_SCALARS = frozenset({int, float, bool, type(None)})


def text(value: Any) -> str:
    """``str(finalize(value))`` in one call, for every {{ expression }} at runtime (the
    sandbox's code generator emits it): plain strings and numbers, nearly all output, skip
    the weighing."""
    if type(value) is str:
        return value
    if type(value) not in _SCALARS:
        too_big(weight(value))
    return str(value)  # str() of a StrictUndefined raises, naming it


# --- everything else ------------------------------------------------------------------------


class Buffer(list):
    """Captured output (macros, ``{% set %}`` blocks, filter blocks), size-checked as it
    grows: a template could otherwise double a string in a loop until memory runs out."""

    def __init__(self) -> None:
        super().__init__()
        self.size, self.limit = 0, max_value()

    def append(self, s: str) -> None:
        self.size += len(s)
        if self.size > self.limit:
            too_big(self.size)
        super().append(s)

    def extend(self, items: Iterable[str]) -> None:
        for s in items:
            self.append(s)


def concat(values: tuple[Any, ...]) -> str:
    too_big(sum(map(weight, values)))
    return "".join([str(v) for v in values])  # str() of a StrictUndefined raises, naming it


def start(max_chars: int, timeout_seconds: float) -> Budget:
    deadline = time.monotonic() + timeout_seconds
    return Budget(deadline, timeout_seconds, max_chars, max_chars, max(max_chars, MAX_VALUE_CHARS))
