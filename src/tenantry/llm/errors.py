"""Provider failures in the platform's taxonomy: they name the provider, never the key.

A 429, a 5xx or a dropped connection is *transient* (retried with backoff, honouring
``Retry-After``); a refused key, an unknown model or a malformed request is *terminal*.
Both answer 502 to our own callers: the fault is upstream, not in their request.
"""

from __future__ import annotations

from tenantry.core.errors import TenantryError


class ProviderError(TenantryError):
    status, title, code = 502, "LLM provider error", "provider-error"

    def __init__(
        self,
        detail: str,
        *,
        provider: str,
        status_code: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(detail, provider=provider)
        self.provider = provider
        self.status_code = status_code
        self.transient = transient
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    title, code = "LLM provider timed out", "provider-timeout"
