"""Access policies (Cube's ``access_policy``): which cubes and members a caller may query and
which rows it sees. A missing claim denies; it never widens."""

from __future__ import annotations

import re
from typing import Any

from tenantry.semantic.compiler.context import SecurityContext
from tenantry.semantic.compiler.errors import AccessDenied
from tenantry.semantic.schema.model import AccessPolicy, Cube, DataModel, RowFilter

CLAIM = re.compile(r"\{\s*(?:securityContext|security_context)\.([A-Za-z_]\w*(?:\.\w+)*)\s*\}")
_MISSING = object()


def claim(claims: dict, path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


class Access:
    def __init__(self, model: DataModel, context: SecurityContext):
        self.model = model
        self.context = context
        self.roles = {*context.roles, "*"}

    def matching(self, cube: Cube) -> list[AccessPolicy] | None:
        """The policies that apply to the caller; None when the cube has none (open)."""
        if not cube.access_policy:
            return None
        found = [p for p in cube.access_policy if p.role in self.roles]
        if not found:
            roles = ", ".join(sorted(self.context.roles)) or "no role"
            raise AccessDenied(
                f"Access denied: no access policy of cube '{cube.name}' matches your roles "
                f"({roles})"
            )
        return found

    def allows(self, cube: Cube) -> bool:
        try:
            self.matching(cube)
        except AccessDenied:
            return False
        return True

    def members(self, cube: Cube) -> set[str] | None:
        """Member names the caller may query; None: all of them."""
        policies = self.matching(cube)
        if policies is None:
            return None
        every = {*cube.dimensions, *cube.measures, *cube.segments}
        allowed: set[str] = set()
        for p in policies:
            includes = p.member_includes
            if includes is None or "*" in includes:
                base = set(every)
            else:
                base = {n.split(".")[-1] for n in includes}
            allowed |= base - {n.split(".")[-1] for n in p.member_excludes}
        return allowed

    def check_member(self, cube: Cube, member: str, name: str) -> None:
        allowed = self.members(cube)
        if allowed is not None and member not in allowed:
            raise AccessDenied(
                f"Access denied: '{name}' is not among the members your roles may query"
            )

    def row_policies(self, cube: Cube) -> list[list[RowFilter]] | None:
        """Row filters, one AND-list per matching policy (ORed); None: every row."""
        policies = self.matching(cube)
        if policies is None:
            return None
        out = []
        for p in policies:
            if p.row_allow_all or p.row_filters is None:
                return None
            out.append(p.row_filters)
        return out

    def values(self, cube: Cube, values: list[Any]) -> list[Any]:
        """Filter values with ``{ securityContext.x }`` replaced by the caller's claims."""
        out: list[Any] = []
        for value in values:
            if not isinstance(value, str) or not CLAIM.search(value):
                out.append(value)
                continue
            whole = CLAIM.fullmatch(value.strip())
            if whole:
                found = self._claim(cube, whole.group(1))
                out += found if isinstance(found, list) else [found]
                continue
            out.append(CLAIM.sub(lambda m: str(self._claim(cube, m.group(1))), value))
        return out

    def _claim(self, cube: Cube, path: str) -> Any:
        found = claim(self.context.claims or {}, path)
        if found is _MISSING or found is None or isinstance(found, dict):
            raise AccessDenied(
                f"Access denied: the access policy of cube '{cube.name}' needs "
                f"securityContext.{path}, which your security context does not have"
            )
        if isinstance(found, list) and any(isinstance(v, dict | list) for v in found):
            raise AccessDenied(
                f"Access denied: securityContext.{path} must be a value or a list of values"
            )
        return found
