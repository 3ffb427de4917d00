"""Who is asking: the JWT payload (Cube's security context) and the caller's roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SecurityContext:
    claims: dict = field(default_factory=dict)
    roles: tuple[str, ...] = ()

    @classmethod
    def from_claims(cls, claims: dict | None, extra_roles: tuple[str, ...] = ()) -> SecurityContext:
        """Roles from ``claims["roles"]`` (a list) or ``claims["role"]`` (a string)."""
        claims = dict(claims or {})
        found: Any = claims.get("roles", claims.get("role"))
        if isinstance(found, str):
            found = [found]
        roles = [str(r) for r in found or [] if isinstance(r, str | int) and str(r)]
        return cls(claims=claims, roles=tuple(dict.fromkeys([*roles, *extra_roles])))
