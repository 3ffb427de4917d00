"""Roles, permissions and API-key scopes: the written permission matrix.

| permission         | viewer | editor | admin | owner | API-key scope |
|--------------------|:------:|:------:|:-----:|:-----:|---------------|
| org:read           |   ✓    |   ✓    |   ✓   |   ✓   | read          |
| data:read          |   ✓    |   ✓    |   ✓   |   ✓   | read          |
| data:write         |        |   ✓    |   ✓   |   ✓   | write         |
| data:run           |        |   ✓    |   ✓   |   ✓   | run           |
| members:read       |   ✓    |   ✓    |   ✓   |   ✓   | read          |
| members:manage     |        |        |   ✓   |   ✓   | admin         |
| api_keys:manage    |        |        |   ✓   |   ✓   | admin         |
| secrets:manage     |        |        |   ✓   |   ✓   | admin         |
| audit:read         |        |        |   ✓   |   ✓   | admin         |
| org:update         |        |        |   ✓   |   ✓   | admin         |
| org:delete         |        |        |       |   ✓   | (never)       |
| org:transfer       |        |        |       |   ✓   | (never)       |
| semantic:query     |   ✓    |   ✓    |   ✓   |   ✓   | read, semantic|
| semantic:tokens    |        |        |   ✓   |   ✓   | admin, semantic|
| prompts:read       |   ✓    |   ✓    |   ✓   |   ✓   | read, prompts:read |
| prompts:render     |   ✓    |   ✓    |   ✓   |   ✓   | read, prompts:render |
| prompts:execute    |        |   ✓    |   ✓   |   ✓   | run, prompts:execute |
| prompts:write      |        |   ✓    |   ✓   |   ✓   | write, prompts:write |
| prompts:admin      |        |        |   ✓   |   ✓   | admin         |
| llm:manage         |        |        |   ✓   |   ✓   | admin         |

Later capabilities add permissions (and scopes) by extending ``ROLE_PERMISSIONS`` and
``SCOPE_PERMISSIONS`` here, so the matrix stays in one place. The README carries this table.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    # Markers for routes that need no organization: everybody, or any signed-in user.
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"

    ORG_READ = "org:read"
    ORG_UPDATE = "org:update"
    ORG_DELETE = "org:delete"
    ORG_TRANSFER = "org:transfer"
    DATA_READ = "data:read"
    DATA_WRITE = "data:write"
    DATA_RUN = "data:run"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    SECRETS_MANAGE = "secrets:manage"
    AUDIT_READ = "audit:read"
    SEMANTIC_QUERY = "semantic:query"  # the Cube-compatible API
    SEMANTIC_TOKENS = "semantic:tokens"  # mint embed tokens, manage signing keys
    PROMPTS_READ = "prompts:read"
    PROMPTS_RENDER = "prompts:render"
    PROMPTS_EXECUTE = "prompts:execute"  # calls a provider: spends tokens and money
    PROMPTS_WRITE = "prompts:write"  # save versions, parts, unprotected labels
    PROMPTS_ADMIN = "prompts:admin"  # protected labels (production), quotas, registry settings
    LLM_MANAGE = "llm:manage"  # provider entries, keys and prices


ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2, "owner": 3}

_VIEWER = {
    Permission.ORG_READ,
    Permission.DATA_READ,
    Permission.MEMBERS_READ,
    Permission.SEMANTIC_QUERY,
    Permission.PROMPTS_READ,
    Permission.PROMPTS_RENDER,
}
_EDITOR = _VIEWER | {
    Permission.DATA_WRITE,
    Permission.DATA_RUN,
    Permission.PROMPTS_EXECUTE,
    Permission.PROMPTS_WRITE,
}
_ADMIN = _EDITOR | {
    Permission.MEMBERS_MANAGE,
    Permission.API_KEYS_MANAGE,
    Permission.SECRETS_MANAGE,
    Permission.AUDIT_READ,
    Permission.ORG_UPDATE,
    Permission.SEMANTIC_TOKENS,
    Permission.PROMPTS_ADMIN,
    Permission.LLM_MANAGE,
}
_OWNER = _ADMIN | {Permission.ORG_DELETE, Permission.ORG_TRANSFER}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset(_VIEWER),
    "editor": frozenset(_EDITOR),
    "admin": frozenset(_ADMIN),
    "owner": frozenset(_OWNER),
}

SCOPES = (
    "read",
    "write",
    "run",
    "admin",
    "semantic",
    "prompts:read",
    "prompts:render",
    "prompts:execute",
    "prompts:write",
)
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "read": frozenset(_VIEWER),
    "write": frozenset({Permission.DATA_WRITE, Permission.PROMPTS_WRITE}),
    "run": frozenset({Permission.DATA_RUN, Permission.PROMPTS_EXECUTE}),
    "admin": frozenset(_ADMIN - _EDITOR),
    # An app's backend: query the semantic layer and mint embed tokens for its own users.
    "semantic": frozenset(
        {Permission.ORG_READ, Permission.SEMANTIC_QUERY, Permission.SEMANTIC_TOKENS}
    ),
    # An application reading and running its prompts, each scope on its own.
    "prompts:read": frozenset({Permission.ORG_READ, Permission.PROMPTS_READ}),
    "prompts:render": frozenset({Permission.ORG_READ, Permission.PROMPTS_RENDER}),
    "prompts:execute": frozenset({Permission.ORG_READ, Permission.PROMPTS_EXECUTE}),
    "prompts:write": frozenset(
        {Permission.ORG_READ, Permission.PROMPTS_READ, Permission.PROMPTS_WRITE}
    ),
}

# Roles a key holder may not exceed: scopes map to the role that holds the same permissions.
SCOPE_MIN_ROLE = {
    "read": "viewer",
    "write": "editor",
    "run": "editor",
    "admin": "admin",
    "semantic": "admin",
    "prompts:read": "viewer",
    "prompts:render": "viewer",
    "prompts:execute": "editor",
    "prompts:write": "editor",
}


def role_allows(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def scopes_allow(scopes: list[str], permission: Permission) -> bool:
    return any(permission in SCOPE_PERMISSIONS.get(s, frozenset()) for s in scopes)


def outranks(a: str, b: str) -> bool:
    return ROLE_RANK[a] > ROLE_RANK[b]
