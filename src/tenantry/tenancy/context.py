"""Who is calling and in which organization — resolved once per request, passed to services."""

from __future__ import annotations

from dataclasses import dataclass, field

from tenantry.core.errors import PermissionDenied
from tenantry.tenancy.models import ApiKey, Organization, User
from tenantry.tenancy.permissions import Permission, role_allows, scopes_allow


@dataclass(frozen=True)
class Caller:
    """The actor behind a change, as the audit log records it."""

    actor_type: str  # user | api_key | system
    actor_id: str | None
    actor_label: str
    client_addr: str | None = None
    request_id: str | None = None
    user: User | None = field(default=None, compare=False)
    api_key: ApiKey | None = field(default=None, compare=False)

    @classmethod
    def for_user(cls, user: User, client_addr=None, request_id=None) -> Caller:
        return cls("user", user.id, user.email, client_addr, request_id, user=user)

    @classmethod
    def for_key(cls, key: ApiKey, client_addr=None, request_id=None) -> Caller:
        return cls(
            "api_key", key.id, f"{key.name} ({key.prefix}…)", client_addr, request_id, api_key=key
        )

    @classmethod
    def system(cls, label: str = "system") -> Caller:
        return cls("system", None, label)


@dataclass(frozen=True)
class OrgContext:
    """A resolved organization plus what the caller may do in it."""

    org: Organization
    caller: Caller
    role: str | None = None  # for users: their membership role
    scopes: tuple[str, ...] = ()  # for API keys

    def can(self, permission: Permission) -> bool:
        if self.caller.actor_type == "api_key":
            return scopes_allow(list(self.scopes), permission)
        return self.role is not None and role_allows(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            who = f"role '{self.role}'" if self.role else f"API key scopes {list(self.scopes)}"
            raise PermissionDenied(
                f"This needs the '{permission}' permission, which {who} does not grant "
                "in this organization."
            )

    @property
    def user(self) -> User | None:
        return self.caller.user
