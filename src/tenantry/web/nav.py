"""The sidebar: one entry per area. Areas not yet installed show as unavailable, not dead links."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    path: str | None  # relative to /o/{org}; None: area not available in this version
    section: str
    permission: str | None = None  # hide unless the role has it


NAV: list[NavItem] = [
    NavItem("home", "Overview", "", "Organization"),
    NavItem("warehouse", "Warehouse", None, "Data"),
    NavItem("connections", "Connections", None, "Data"),
    NavItem("files", "Files", None, "Data"),
    NavItem("pipelines", "Pipelines", None, "Data"),
    NavItem("transformations", "Transformations", None, "Data"),
    NavItem("dag", "DAG", None, "Data"),
    NavItem("schedules", "Schedules", None, "Data"),
    NavItem("runs", "Runs", None, "Data"),
    NavItem("semantic", "Semantic models", None, "Analytics"),
    NavItem("playground", "Playground", None, "Analytics"),
    NavItem("dashboards", "Dashboards", None, "Analytics"),
    NavItem("prompts", "Prompts", None, "AI"),
    NavItem("members", "Members", "/members", "Settings"),
    NavItem("api_keys", "API keys", "/api-keys", "Settings", "api_keys:manage"),
    NavItem("secrets", "Secrets", "/secrets", "Settings", "secrets:manage"),
    NavItem("llm", "LLM providers", None, "Settings"),
    NavItem("audit", "Audit log", "/audit", "Settings", "audit:read"),
    NavItem("settings", "Settings", "/settings", "Settings", "org:update"),
]


def register(item: NavItem) -> None:
    """A capability makes its area live by registering (or replacing) its entry."""
    for i, existing in enumerate(NAV):
        if existing.key == item.key:
            NAV[i] = item
            return
    NAV.append(item)


def nav_for(request: Request, ctx) -> list[dict]:
    base = f"/o/{ctx.org.slug}"
    current = request.url.path
    out = []
    for item in NAV:
        if item.permission and not ctx.can(item.permission):
            continue
        href = base + item.path if item.path is not None else None
        active = href is not None and (
            current == href or (item.path and current.startswith(href + "/"))
        )
        out.append(
            {
                "key": item.key,
                "label": item.label,
                "href": href,
                "section": item.section,
                "active": active,
            }
        )
    return out
