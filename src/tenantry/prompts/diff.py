"""What changed between two prompt versions, as entries a UI or an API client can show.

Specs are compared in their ``to_dict`` form. Each change names a path (``template``,
``messages[0].content``, ``inputs.tone.default``, ``model.temperature``, ``metadata.owner``) and
carries a unified diff for multi-line text.
"""

from __future__ import annotations

import difflib
from itertools import zip_longest
from typing import Any

# Compared key by key (one entry per key); any other field is compared whole.
_KEYED = ("model", "metadata")
_MISSING = object()


def _unified(path: str, before: Any, after: Any) -> str | None:
    texts = [v for v in (before, after) if isinstance(v, str)]
    if not texts or not any("\n" in t for t in texts):
        return None
    a = before if isinstance(before, str) else ""
    b = after if isinstance(after, str) else ""
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _entry(path: str, before: Any, after: Any) -> dict[str, Any]:
    change = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
    before = None if before is _MISSING else before
    after = None if after is _MISSING else after
    return {
        "path": path,
        "change": change,
        "before": before,
        "after": after,
        "unified": _unified(path, before, after),
    }


def _compare(path: str, a: Any, b: Any, out: list[dict[str, Any]]) -> None:
    if a != b:
        out.append(_entry(path, a, b))


def _keyed(prefix: str, a: dict[str, Any], b: dict[str, Any], out: list, deep: bool) -> None:
    for key in [*a, *(k for k in b if k not in a)]:
        path = f"{prefix}.{key}"
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if deep and isinstance(va, dict) and isinstance(vb, dict):
            _keyed(path, va, vb, out, deep=False)  # inputs.tone → inputs.tone.default
        else:
            _compare(path, va, vb, out)


def _messages(a: list[dict[str, Any]], b: list[dict[str, Any]], out: list) -> None:
    """Aligned, so inserting one message shows one addition rather than every later message
    as changed."""

    def key(m: dict[str, Any]) -> tuple[str, str]:
        return (str(m.get("role")), str(m.get("content")))

    matcher = difflib.SequenceMatcher(None, [key(m) for m in a], [key(m) for m in b], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = list(zip_longest(range(i1, i2), range(j1, j2)))
        for i, j in pairs:
            if i is None:
                out.append(_entry(f"messages[{j}]", _MISSING, b[j]))
            elif j is None:
                out.append(_entry(f"messages[{i}]", a[i], _MISSING))
            else:
                for field in [*a[i], *(k for k in b[j] if k not in a[i])]:
                    va, vb = a[i].get(field, _MISSING), b[j].get(field, _MISSING)
                    _compare(f"messages[{j}].{field}", va, vb, out)


def diff_specs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Changes from spec ``a`` to spec ``b`` (both ``PromptSpec.to_dict()``), in key order."""
    out: list[dict[str, Any]] = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va == vb:
            continue
        if key == "messages" and isinstance(va, list) and isinstance(vb, list):
            _messages(va, vb, out)
        elif key == "inputs" and isinstance(va, dict) and isinstance(vb, dict):
            _keyed("inputs", va, vb, out, deep=True)
        elif key in _KEYED and isinstance(va, dict) and isinstance(vb, dict):
            _keyed(key, va, vb, out, deep=False)
        else:
            out.append(_entry(key, va, vb))
    return out


def diff_parts(a: dict[str, int], b: dict[str, int]) -> list[dict[str, Any]]:
    """Changes of pinned part versions (name → version number), path ``parts.<name>``."""
    out: list[dict[str, Any]] = []
    for name in sorted({*a, *b}):
        _compare(f"parts.{name}", a.get(name, _MISSING), b.get(name, _MISSING), out)
    return out


def side_by_side(a_text: str, b_text: str) -> list[tuple[str, str | None, str | None]]:
    """Rows ``(kind, left, right)`` for a two-column view; kind is equal, insert, delete or
    replace, and a side without a line is None."""
    left, right = a_text.splitlines(), b_text.splitlines()
    rows: list[tuple[str, str | None, str | None]] = []
    matcher = difflib.SequenceMatcher(None, left, right, False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(("equal", left[i], right[j1 + i - i1]) for i in range(i1, i2))
        elif op == "delete":
            rows.extend(("delete", left[i], None) for i in range(i1, i2))
        elif op == "insert":
            rows.extend(("insert", None, right[j]) for j in range(j1, j2))
        else:
            for la, rb in zip_longest(left[i1:i2], right[j1:j2]):
                rows.append(("replace", la, rb))
    return rows
