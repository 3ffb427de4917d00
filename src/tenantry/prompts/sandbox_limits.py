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

import math
import re
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace
from markupsafe import Markup

MAX_RANGE = 100_000  # range(), slice()/batch() pieces, items sorted or dumped (yaml, pprint)
MAX_VALUE_CHARS = 1_000_000  # any one intermediate string/list; max_chars raises it if larger
MAX_WRAP_LINES = 20_000  # wordwrap: textwrap is Python, and slow on long words
MAX_ROUND_DIGITS = 1_000  # round(x, n) computes 10 ** n
_WIDE_FORMAT = re.compile(  # also keeps every width _PERCENT_SPEC/_BRACE_SPEC parse short
    r"%(?:\([^)]*\))?[-+ #0]*(?:\*|\d{6,}|\d*\.(?:\*|\d{6,}))|\{[^{}]*:[^{}]*(?:\d{6,}|\{)"
)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d*)(?:\.(\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"\S+")


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


def _over(what: str, n: int, limit: int) -> None:
    """``what`` names the count as ``{n}``: "slice() into {n} pieces"."""
    if n > limit:
        what = what.format(n=f"{n:,}")
        raise Refused(f"{what} is not allowed in templates (sandbox); the limit is {limit:,}")


_CONTAINERS = (list, tuple, dict, set, frozenset)  # a tuple: ``list | tuple`` is built per call


def _weight(value: Any, memo: dict[int, int] | None = None) -> int:
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
    if not isinstance(value, _CONTAINERS):
        return 0
    memo = {} if memo is None else memo
    if id(value) not in memo:
        memo[id(value)] = 0  # a container inside itself
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        memo[id(value)] = len(value) + sum(_weight(v, memo) for v in items)
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
        self._left -= 1 + _weight(item)
        if self._left < 0:
            _too_big(self._budget.max_value - self._left)
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
_COLLECTIONS = (list, tuple, dict, str, range, set, frozenset, KeysView, ValuesView, ItemsView)


def guard_iter(iterable: Any) -> Any:
    """Around every for-loop's iterable."""
    tick()
    b = BUDGET.get()
    if b is None or (type(iterable) in _SIZED and len(iterable) < 32):
        return iterable  # _ticking would not check before the 32nd item anyway
    if type(iterable) is Counted:
        iterable = iterable._inner  # the loop keeps nothing: only the deadline matters
    return _ticking(iterable, b)


def _feed(value: Any) -> Any:
    """A filter's input that it walks in Python or C (sum, max, select...): through a ticking
    iterator, so the walk checks the deadline. Other values (None, numbers) are left alone,
    for the filter's own handling."""
    b = BUDGET.get()
    if b is None or type(value) is Counted:
        return value
    if isinstance(value, Iterator) or (isinstance(value, _COLLECTIONS) and len(value) >= 32):
        return _ticking(value, b)
    return value


def _drain(value: Any) -> list[Any] | tuple[Any, ...]:
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


# --- strings --------------------------------------------------------------------------------


def _formatted(value: Any) -> int:
    """The most one value can print as in a format field: an int in binary, a float with
    ``f`` (1e300 prints 301 digits)."""
    if isinstance(value, float) and math.isfinite(value):
        return len(f"{value:.0f}")
    if isinstance(value, int):
        return value.bit_length() + 1
    return _weight(value)


def _check_format(fmt: Any, marker: str, values: Iterable[Any]) -> None:
    if isinstance(fmt, bytes | bytearray):
        fmt = fmt.decode("latin-1")
    if not isinstance(fmt, str):
        return
    if _WIDE_FORMAT.search(fmt):
        raise Refused("a format width of 100000 or more is not allowed in templates (sandbox)")
    if marker == "%":
        pads = sum(int(w or 0) + int(p or 0) for w, p in _PERCENT_SPEC.findall(fmt))
    else:
        pads = sum(int(d) for spec in _BRACE_SPEC.findall(fmt) for d in _DIGITS.findall(spec))
    _too_big(len(fmt) + pads + fmt.count(marker) * max(map(_formatted, values), default=0))


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_text(name: str, s: str, args: tuple, kwargs: dict) -> None:
    """Refuse string operations (methods and filters alike) whose result would be huge,
    before Python builds it. ``args`` are those after the string."""
    if name == "replace":
        old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
        if old is not None and new is not None:
            old = str(old)  # the filter replaces str(old) with str(new)
            count = s.count(old) if old else len(s) + 1
            _too_big(len(s) + count * (len(new) if isinstance(new, str) else _formatted(new)))
    elif name == "indent":
        width = _arg(args, kwargs, 0, "width", 4)
        step = len(width) if isinstance(width, str) else _int(width) or 0
        _too_big(len(s) + (s.count("\n") + 1) * step)
    elif name == "wordwrap":
        width = _int(_arg(args, kwargs, 0, "width", 79))
        lines = s.count("\n") + 1 + (len(s) // max(width, 1) if width is not None else 0)
        _over("wordwrap into {n} lines", lines, MAX_WRAP_LINES)
        _too_big(len(s) + lines * len(str(_arg(args, kwargs, 2, "wrapstring") or "\n")))
    elif name == "urlize":
        # Python work per word (and per extra scheme); the link attributes repeat per word.
        schemes = _arg(args, kwargs, 4, "extra_schemes") or ()
        tries = len(schemes) if isinstance(schemes, _COLLECTIONS) else 1
        _over("urlize with {n} extra schemes", tries, 100)
        words = _WORDS.subn("", s)[1]
        _over("urlize of {n} words", words, MAX_RANGE // (1 + tries))
        attrs = (_arg(args, kwargs, i, k) or "" for i, k in ((2, "target"), (3, "rel")))
        _too_big(len(s) + words * sum(len(str(a)) for a in attrs))
    elif name == "translate" and args:
        table = args[0]
        values = table.values() if isinstance(table, dict) else table
        if isinstance(values, list | tuple | ValuesView):
            _too_big(len(s) * max(1, max(map(_weight, values), default=1)))
    elif name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
        for a in (*args, *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool):
                _too_big(a * (s.count("\t") + 1 if name == "expandtabs" else 1))


def check_method(name: str, s: str | bytes, args: tuple, kwargs: dict) -> tuple:
    """Checks a str (or bytes) method call; returns its (possibly materialised) arguments."""
    if name == "format":
        _check_format(s, "{", (*args, *kwargs.values()))
    elif name == "format_map" and args:  # a namespace is a mapping too: weigh it whole
        _check_format(s, "{", args[0].values() if isinstance(args[0], dict) else args[:1])
    elif name == "join" and args:
        items = _drain(args[0])  # a generator could yield the same big string many times
        _too_big(sum(map(_weight, items)) + len(s) * len(items))
        args = (items, *args[1:])
    elif isinstance(s, str):
        _check_text(name, s, args, kwargs)
    elif name != "translate":  # bytes: the same limits (bytes.translate maps byte to byte)
        latin = tuple(a.decode("latin-1") if isinstance(a, bytes | bytearray) else a for a in args)
        _check_text(name, s.decode("latin-1"), latin, kwargs)
    return args


# --- filters --------------------------------------------------------------------------------


def _check_layout(name: str, value: Any, step: int) -> None:
    """Before a dump that puts every element on its own line, indented ``step`` more per level
    (yaml, pprint, json with an indent): at most MAX_RANGE elements (they are slow Python and
    build an object each), and the indentation counted. Stops counting at the limit."""
    _too_big(step)  # json builds ' ' * indent before anything else
    limit, nodes, size = _max_value(), 1, 0
    todo = [(value, 0)]
    while todo:
        v, level = todo.pop()
        if isinstance(v, Namespace):
            v = v._Namespace__attrs  # type: ignore[attr-defined]
        if not isinstance(v, _CONTAINERS):
            size += _weight(v)
            continue
        nodes += len(v)
        if nodes > MAX_RANGE:
            raise Refused(
                f"{name} of more than {MAX_RANGE:,} items is not allowed in templates (sandbox)"
            )
        size += len(v) * (3 + (level + 1) * step)
        if isinstance(v, dict):
            size += sum(map(_weight, v))  # the keys
            v = v.values()
        if size > limit:
            _too_big(size)
        todo.extend((c, level + 1) for c in v)
    _too_big(size)


def _check_filter(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """Filters that build text. ``args[at]`` is the filtered value; returns the (possibly
    materialised) arguments."""
    value, rest = args[at], args[at + 1 :]
    if name == "join" and not isinstance(value, str | list | tuple | dict):
        value = _drain(value)
        args = (*args[:at], value, *rest)
    _too_big(_weight(value))
    if name == "join":
        sep = rest[0] if rest else kwargs.get("d", "")
        _too_big(_weight(value) + len(str(sep)) * len(value))
    elif name in ("tojson", "json"):
        indent = _arg(rest, kwargs, 0, "indent")
        if indent is not None:
            step = len(indent) if isinstance(indent, str) else max(_int(indent) or 0, 0)
            _check_layout(name, value, step)
    elif name in ("yaml", "pprint"):
        _check_layout(name, value, 2 if name == "yaml" else 1)
    elif name in _STR_ARGS:
        s = value if isinstance(value, str) else str(value)  # what the filter formats
        if name == "format":
            _check_format(s, "%", kwargs.values() or rest)
        else:
            _check_text(name, s, rest, kwargs)
    return args


def _check_walk(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """Filters that walk their input in Python or C: through a ticking iterator."""
    return (*args[:at], _feed(args[at]), *args[at + 1 :])


def _check_sort(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """sort, groupby, dictsort: a key (a Python function) for every item, then a C sort."""
    value = args[at]
    if name != "dictsort":
        value = _drain(_feed(value)) if not isinstance(value, list | tuple) else value
    if isinstance(value, _COLLECTIONS):
        _over(name + " of {n} items", len(value), MAX_RANGE)
    return (*args[:at], value, *args[at + 1 :])


def _check_pieces(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """slice(n) yields n lists, batch(n, fill) pads its last one with n fills."""
    n = _int(_arg(args[at + 1 :], kwargs, 0, "slices" if name == "slice" else "linecount"))
    if n is not None:
        pieces = "() into {n} pieces" if name == "slice" else "() into batches of {n}"
        _over(name + pieces, n, MAX_RANGE)
        fill = _arg(args[at + 1 :], kwargs, 1, "fill_with")
        if fill is not None:
            _too_big(n * (1 + _weight(fill)))
    return _check_walk(name, args, kwargs, at)


def _check_round(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    digits = _int(_arg(args[at + 1 :], kwargs, 0, "precision", 0))
    if digits is not None:
        _over("round() to {n} digits", abs(digits), MAX_ROUND_DIGITS)
    return args


# Filters that turn their value into text: str() of a container is checked before they run.
_TEXT_FILTERS = frozenset(
    {"string", "e", "escape", "forceescape", "upper", "lower", "title", "capitalize", "trim"}
    | {"striptags", "replace", "center", "indent", "wordwrap", "truncate", "urlize", "format"}
    | {"join", "tojson", "json", "yaml", "pprint", "wordcount", "urlencode", "list"}
)
_STR_ARGS = frozenset({"replace", "center", "indent", "wordwrap", "urlize", "format"})
_CHECKS: dict[str, Callable[[str, tuple, dict, int], tuple]] = {
    **{name: _check_filter for name in _TEXT_FILTERS},
    **dict.fromkeys(("sum", "max", "min", "unique", "map"), _check_walk),
    **dict.fromkeys(("select", "reject", "selectattr", "rejectattr"), _check_walk),
    **dict.fromkeys(("sort", "groupby", "dictsort"), _check_sort),
    **dict.fromkeys(("slice", "batch"), _check_pieces),
    "round": _check_round,
}


def guard_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if hasattr(f, "jinja_pass_arg") else 0  # context/environment comes first
    check = _CHECKS.get(name)

    @wraps(f)  # keeps jinja_pass_arg
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None and len(args) > skip:
            args = check(name, args, kwargs, skip)
        return sized(f(*args, **kwargs))

    return guarded


def safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise Refused(
            f"range() of {len(rng):,} items is not allowed in templates (sandbox); "
            f"the limit is {MAX_RANGE:,}"
        )
    return rng


# --- everything else ------------------------------------------------------------------------


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


_SEQUENCES = (str, list, tuple, bytes, bytearray)


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
        seq, n = (left, right) if isinstance(left, _SEQUENCES) else (right, left)
        if isinstance(seq, _SEQUENCES) and isinstance(n, int):
            _too_big(_weight(seq) * n)
    elif operator == "+" and isinstance(left, _SEQUENCES) and type(left) is type(right):
        _too_big(_weight(left) + _weight(right))
    elif operator == "%" and isinstance(left, str | bytes | bytearray):
        values = right.values() if isinstance(right, dict) else right
        _check_format(left, "%", values if isinstance(right, tuple | dict) else (right,))


def start(max_chars: int, timeout_seconds: float) -> Budget:
    deadline = time.monotonic() + timeout_seconds
    return Budget(deadline, timeout_seconds, max_chars, max_chars, max(max_chars, MAX_VALUE_CHARS))
