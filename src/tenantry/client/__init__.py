"""Tenantry's Python client: fetch prompts (cached, with fallbacks), render them locally with
the server's own sandbox, render and execute them on the server.

    from tenantry.client import Tenantry

    tn = Tenantry("https://tenantry.example.com", api_key="tny_…", org="acme-shop")
    p = tn.prompts.get("order-summary", label="production", fallback="Summarise {{ orders }}")
    p.render(customer="Ada", orders=[...]).messages
    tn.prompts.execute("order-summary", inputs={...}, stream=True)   # SSE events

    async with AsyncTenantry("https://tenantry.example.com", api_key="tny_…") as tn:
        p = await tn.prompts.get("order-summary", fallback="Summarise {{ orders }}")
        async for event in await tn.prompts.execute("order-summary", {...}, stream=True): ...

Importing this needs only httpx and the standard library; local rendering imports the
sandbox (Jinja2, pydantic, PyYAML) on first use.
"""

from tenantry.client._api import ExecutionsAPI, PromptsAPI, Tenantry
from tenantry.client._async import AsyncExecutionsAPI, AsyncPromptsAPI, AsyncTenantry
from tenantry.client._errors import (
    Conflict,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ServerError,
    TenantryClientError,
    Unauthenticated,
    ValidationError,
)
from tenantry.client._prompt import Prompt

__all__ = [
    "AsyncExecutionsAPI",
    "AsyncPromptsAPI",
    "AsyncTenantry",
    "Conflict",
    "ConnectionFailed",
    "ExecutionsAPI",
    "NotFound",
    "PermissionDenied",
    "Prompt",
    "PromptsAPI",
    "QuotaExceeded",
    "ServerError",
    "Tenantry",
    "TenantryClientError",
    "Unauthenticated",
    "ValidationError",
]
