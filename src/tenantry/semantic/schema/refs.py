"""``{CUBE}``, ``{cube}``, ``{member}`` and ``{cube.member}`` references inside model SQL."""

from __future__ import annotations

import re

REF = re.compile(r"\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\s*\}")
NAME = re.compile(r"^[A-Za-z_]\w*$")


def references(sql: str) -> list[str]:
    return REF.findall(sql or "")


def substitute(sql: str, replace) -> str:
    """Every reference replaced by ``replace(ref)`` (a string of SQL)."""
    return REF.sub(lambda m: replace(m.group(1)), sql)
