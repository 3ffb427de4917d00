"""Provider calls reach only addresses the operator allows, and exactly the address checked.

A provider's base URL is tenant input. Checking its name once and letting the HTTP client
resolve it again would let a name that answers differently the second time (DNS rebinding)
reach the platform's own network. So every request resolves and checks the name here, then
connects to that address, keeping the name for the Host header and for TLS (SNI and the
certificate check)."""

from __future__ import annotations

import asyncio

import httpx

from tenantry.connections.netguard import resolve_allowed


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, allowed: str | None, **kwargs):
        self._allowed = allowed
        self._inner = httpx.AsyncHTTPTransport(**kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await asyncio.to_thread(
            resolve_allowed, url.host, port, allowed=self._allowed, field="base_url"
        )
        if address != url.host:
            # The Host header was set from the name when the request was built; TLS uses it too.
            request.extensions = {**request.extensions, "sni_hostname": url.host}
            request.url = url.copy_with(host=address)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
