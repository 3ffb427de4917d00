"""Pick the adapter for a provider entry.

Usage::

    async with client_for(config) as client:
        response = await client.chat(ChatRequest(model="gpt-4o-mini", messages=[...]))
        async for event in client.stream(request): ...
"""

from __future__ import annotations

from typing import Any

from tenantry.core.errors import ValidationFailed
from tenantry.llm.anthropic import AnthropicClient
from tenantry.llm.gemini import GeminiClient
from tenantry.llm.openai import OpenAIClient
from tenantry.llm.transport import BaseClient
from tenantry.llm.types import PROVIDER_KINDS, ChatClient, ProviderConfig

ADAPTERS: dict[str, type[BaseClient]] = {
    "openai": OpenAIClient,
    "anthropic": AnthropicClient,
    "gemini": GeminiClient,
}


def client_for(config: ProviderConfig, **kw: Any) -> ChatClient:
    """A client for ``config.kind``. ``kw`` goes to the adapter: ``transport`` (an httpx
    transport) and ``sleep`` (the coroutine used to wait between retries). Every client is also
    an async context manager that closes its connection pool."""
    adapter = ADAPTERS.get(config.kind)
    if adapter is None:
        raise ValidationFailed.field(
            "kind",
            f"{config.kind!r} is not a known provider kind; choose one of "
            + ", ".join(PROVIDER_KINDS),
        )
    return adapter(config, **kw)
