"""The provider-neutral shapes every adapter speaks.

Adapters translate these to and from their wire protocol (OpenAI ``tool_calls`` with JSON-string
arguments, Anthropic ``tool_use``/``tool_result`` blocks, Gemini ``functionCall`` parts), so
callers — prompt execution, the AI analyst — never see a provider's format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]
ProviderKind = Literal["openai", "anthropic", "gemini"]
PROVIDER_KINDS: tuple[str, ...] = ("openai", "anthropic", "gemini")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]  # parsed; adapters refuse arguments that are not a JSON object
    # Opaque values a provider wants back with the call on the next turn (Gemini's
    # thoughtSignature); callers keep the ToolCall as it came and never read this.
    provider_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant turns
    tool_call_id: str | None = None  # tool turns: which call this answers
    name: str | None = None  # tool turns: the tool's name (Gemini needs it)


@dataclass
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str | None = None  # "auto" | "none" | "required" | a tool's name
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # passed through to the provider's body


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class ChatResponse:
    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    model: str
    finish_reason: str  # "stop" | "tool_calls" | "length" | "content_filter" | provider's own
    id: str | None = None


@dataclass
class StreamEvent:
    """One streamed piece. ``text`` deltas; ``tool_call`` deltas (``index`` says which call,
    ``id``/``name`` arrive once, ``arguments`` is a fragment of the JSON text); the last event is
    ``done`` carrying the whole assembled ``response`` (text, tool calls, usage)."""

    type: Literal["text", "tool_call", "done"]
    text: str = ""
    index: int = 0
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    response: ChatResponse | None = None


@dataclass
class ProviderConfig:
    """What an adapter needs: one organization's provider entry, the key already decrypted.

    The key lives only in this object and in the request header; ``repr`` hides it."""

    kind: str  # one of PROVIDER_KINDS
    name: str  # the organization's name for it, used in error messages
    api_key: str = field(default="", repr=False)
    base_url: str = ""  # empty: the provider's public endpoint
    default_model: str = ""
    timeout_seconds: float = 60.0
    max_retries: int = 2
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    api_version: str = ""  # Azure OpenAI (sent as ?api-version=) / Anthropic version header


class ChatClient(Protocol):
    config: ProviderConfig

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
