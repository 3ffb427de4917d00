"""An HTTP REST API (read with dlt's rest_api source): base URL, resources, auth, paginator."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field, field_validator

from tenantry.connections.kinds.base import Kind, TestContext
from tenantry.connections.netguard import resolve_allowed
from tenantry.core.errors import ValidationFailed
from tenantry.core.secrets import Secret


class RestApiConfig(BaseModel):
    base_url: str = Field(
        max_length=500, title="Base URL", description="e.g. https://api.example.com/v1/"
    )
    resources: str = Field(
        min_length=1,
        max_length=2000,
        description="Comma-separated endpoint paths to load, e.g. customers, orders",
    )
    data_selector: str | None = Field(
        default=None,
        max_length=200,
        description="Where records are in a response, e.g. data.items (empty: found automatically)",
    )
    paginator: Literal[
        "auto", "none", "page_number", "offset", "cursor", "link_header", "json_link"
    ] = "auto"
    auth: Literal["none", "bearer", "api_key", "basic"] = "none"
    token: Secret | None = Field(default=None, description="For bearer auth")
    api_key_name: str = Field(default="X-API-Key", max_length=100, title="API key name")
    api_key_location: Literal["header", "query"] = Field(default="header", title="API key in")
    api_key: Secret | None = Field(default=None, title="API key")
    username: str | None = Field(default=None, max_length=200, description="For basic auth")
    password: Secret | None = Field(default=None, description="For basic auth")

    @field_validator("base_url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.strip() if value.strip().endswith("/") else value.strip() + "/"

    def resource_paths(self) -> list[str]:
        return [r.strip().lstrip("/") for r in self.resources.split(",") if r.strip()]


def request_parts(config: RestApiConfig) -> tuple[dict[str, str], dict[str, str], Any]:
    """(headers, query params, httpx auth) for the configured authentication."""
    import httpx

    headers: dict[str, str] = {"Accept": "application/json"}
    params: dict[str, str] = {}
    auth = None
    if config.auth == "bearer":
        if not config.token:
            raise ValidationFailed.field("token", "is required for bearer auth")
        headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
    elif config.auth == "api_key":
        if not config.api_key:
            raise ValidationFailed.field("api_key", "is required for API-key auth")
        target = headers if config.api_key_location == "header" else params
        target[config.api_key_name] = config.api_key.get_secret_value()
    elif config.auth == "basic":
        if not config.username or not config.password:
            raise ValidationFailed.field(
                "password", "username and password are required for basic auth"
            )
        auth = httpx.BasicAuth(config.username, config.password.get_secret_value())
    return headers, params, auth


def _records(payload: Any, selector: str | None) -> list | None:
    if selector:
        for part in selector.split("."):
            payload = payload.get(part) if isinstance(payload, dict) else None
        return payload if isinstance(payload, list) else None
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):  # the first list value, as dlt's auto-detection does
        return next((v for v in payload.values() if isinstance(v, list)), None)
    return None


async def test(config: RestApiConfig, ctx: TestContext) -> str:
    import httpx

    parts = urlsplit(config.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolve_allowed(
        parts.hostname, port, allowed=ctx.settings.allowed_private_networks, field="base_url"
    )
    headers, params, auth = request_parts(config)
    first = config.resource_paths()[0]
    url = urljoin(config.base_url, first)
    # No redirects: a redirect could lead to an address the guard never saw.
    async with httpx.AsyncClient(timeout=ctx.timeout, follow_redirects=False) as client:
        response = await client.get(url, headers=headers, params=params, auth=auth)
    if response.status_code in (401, 403):
        raise ValidationFailed.field(
            "auth", f"the API answered {response.status_code}; check the credentials"
        )
    if response.is_redirect:
        raise ValidationFailed.field(
            "base_url", f"the API redirects to {response.headers.get('location')}; use that URL"
        )
    if response.status_code >= 400:
        raise ValidationFailed.field(
            "resources", f"GET /{first} answered HTTP {response.status_code}"
        )
    try:
        payload = response.json()
    except ValueError:
        raise ValidationFailed.field("resources", f"GET /{first} did not return JSON") from None
    records = _records(payload, config.data_selector)
    if records is None:
        raise ValidationFailed.field(
            "data_selector", f"no list of records found in GET /{first}; set the data selector"
        )
    return f"HTTP {response.status_code} from /{first}; {len(records)} record(s) on the first page"


KIND = Kind("rest_api", "REST API", "source", RestApiConfig, test)
