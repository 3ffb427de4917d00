"""What templates may build, checked before Python builds it: string methods and format
widths, filters whose arguments say how much to make (``slice(n)``, ``batch(n)``, indents,
``round`` digits), filters that walk their input, and the ``+ * ** %`` operators. The budget
and the weighing live in ``sandbox_limits``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, ValuesView
from functools import wraps
from typing import Any

from jinja2.utils import Namespace

from tenantry.prompts.sandbox_limits import (
    COLLECTIONS,
    CONTAINERS,
    MAX_RANGE,
    Refused,
    drain,
    feed,
    max_value,
    over,
    sized,
    tick,
    too_big,
    weight,
)

MAX_WRAP_LINES = 20_000  # wordwrap: textwrap is Python, and slow on long words
MAX_ROUND_DIGITS = 1_000  # round(x, n) computes 10 ** n
_WIDE_FORMAT = re.compile(  # also keeps every width _PERCENT_SPEC/_BRACE_SPEC parse short
    r"%(?:\([^)]*\))?[-+ #0]*(?:\*|\d{6,}|\d*\.(?:\*|\d{6,}))|\{[^{}]*:[^{}]*(?:\d{6,}|\{)"
)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d*)(?:\.(\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"\S+")


# --- strings --------------------------------------------------------------------------------


def _formatted(value: Any) -> int:
    """The most one value can print as in a format field: an int in binary, a float with
    ``f`` (1e300 prints 301 digits)."""
    if isinstance(value, float) and math.isfinite(value):
        return len(f"{value:.0f}")
    if isinstance(value, int):
        return value.bit_length() + 1
    return weight(value)


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
    too_big(len(fmt) + pads + fmt.count(marker) * max(map(_formatted, values), default=0))


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
            too_big(len(s) + count * (len(new) if isinstance(new, str) else _formatted(new)))
    elif name == "indent":
        width = _arg(args, kwargs, 0, "width", 4)
        step = len(width) if isinstance(width, str) else _int(width) or 0
        too_big(len(s) + (s.count("\n") + 1) * step)
    elif name == "wordwrap":
        width = _int(_arg(args, kwargs, 0, "width", 79))
        lines = s.count("\n") + 1 + (len(s) // max(width, 1) if width is not None else 0)
        over("wordwrap into {n} lines", lines, MAX_WRAP_LINES)
        too_big(len(s) + lines * len(str(_arg(args, kwargs, 2, "wrapstring") or "\n")))
    elif name == "urlize":
        # Python work per word (and per extra scheme); the link attributes repeat per word.
        schemes = _arg(args, kwargs, 4, "extra_schemes") or ()
        tries = len(schemes) if isinstance(schemes, COLLECTIONS) else 1
        over("urlize with {n} extra schemes", tries, 100)
        words = _WORDS.subn("", s)[1]
        over("urlize of {n} words", words, MAX_RANGE // (1 + tries))
        attrs = (_arg(args, kwargs, i, k) or "" for i, k in ((2, "target"), (3, "rel")))
        too_big(len(s) + words * sum(len(str(a)) for a in attrs))
    elif name == "translate" and args:
        table = args[0]
        values = table.values() if isinstance(table, dict) else table
        if isinstance(values, list | tuple | ValuesView):
            too_big(len(s) * max(1, max(map(weight, values), default=1)))
    elif name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
        for a in (*args, *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool):
                too_big(a * (s.count("\t") + 1 if name == "expandtabs" else 1))


def check_method(name: str, s: str | bytes, args: tuple, kwargs: dict) -> tuple:
    """Checks a str (or bytes) method call; returns its (possibly materialised) arguments."""
    if name == "format":
        _check_format(s, "{", (*args, *kwargs.values()))
    elif name == "format_map" and args:  # a namespace is a mapping too: weigh it whole
        _check_format(s, "{", args[0].values() if isinstance(args[0], dict) else args[:1])
    elif name == "join" and args:
        items = drain(args[0])  # a generator could yield the same big string many times
        too_big(sum(map(weight, items)) + len(s) * len(items))
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
    too_big(step)  # json builds ' ' * indent before anything else
    limit, nodes, size = max_value(), 1, 0
    todo = [(value, 0)]
    while todo:
        v, level = todo.pop()
        if isinstance(v, Namespace):
            v = v._Namespace__attrs  # type: ignore[attr-defined]
        if not isinstance(v, CONTAINERS):
            size += weight(v)
            continue
        nodes += len(v)
        if nodes > MAX_RANGE:
            raise Refused(
                f"{name} of more than {MAX_RANGE:,} items is not allowed in templates (sandbox)"
            )
        size += len(v) * (3 + (level + 1) * step)
        if isinstance(v, dict):
            size += sum(map(weight, v))  # the keys
            v = v.values()
        if size > limit:
            too_big(size)
        todo.extend((c, level + 1) for c in v)
    too_big(size)


def _check_filter(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """Filters that build text. ``args[at]`` is the filtered value; returns the (possibly
    materialised) arguments."""
    value, rest = args[at], args[at + 1 :]
    if name == "join" and not isinstance(value, str | list | tuple | dict):
        value = drain(value)
        args = (*args[:at], value, *rest)
    too_big(weight(value))
    if name == "join":
        sep = rest[0] if rest else kwargs.get("d", "")
        too_big(weight(value) + len(str(sep)) * len(value))
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
    return (*args[:at], feed(args[at]), *args[at + 1 :])


def _check_sort(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """sort, groupby, dictsort: a key (a Python function) for every item, then a C sort."""
    value = args[at]
    if name != "dictsort":
        value = drain(feed(value)) if not isinstance(value, list | tuple) else value
    if isinstance(value, COLLECTIONS):
        over(name + " of {n} items", len(value), MAX_RANGE)
    return (*args[:at], value, *args[at + 1 :])


def _check_pieces(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    """slice(n) yields n lists, batch(n, fill) pads its last one with n fills."""
    n = _int(_arg(args[at + 1 :], kwargs, 0, "slices" if name == "slice" else "linecount"))
    if n is not None:
        pieces = "() into {n} pieces" if name == "slice" else "() into batches of {n}"
        over(name + pieces, n, MAX_RANGE)
        fill = _arg(args[at + 1 :], kwargs, 1, "fill_with")
        if fill is not None:
            too_big(n * (1 + weight(fill)))
    return _check_walk(name, args, kwargs, at)


def _check_round(name: str, args: tuple, kwargs: dict, at: int) -> tuple:
    digits = _int(_arg(args[at + 1 :], kwargs, 0, "precision", 0))
    if digits is not None:
        over("round() to {n} digits", abs(digits), MAX_ROUND_DIGITS)
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


# --- operators ----------------------------------------------------------------------------


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
            too_big(weight(seq) * n)
    elif operator == "+" and isinstance(left, _SEQUENCES) and type(left) is type(right):
        too_big(weight(left) + weight(right))
    elif operator == "%" and isinstance(left, str | bytes | bytearray):
        values = right.values() if isinstance(right, dict) else right
        _check_format(left, "%", values if isinstance(right, tuple | dict) else (right,))
