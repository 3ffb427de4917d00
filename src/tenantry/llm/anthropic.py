"""Anthropic Messages API.

System messages become the top-level ``system``; tool calls are ``tool_use`` blocks and tool
results are ``tool_result`` blocks in a *user* turn. Anthropic wants roles to alternate, so
consecutive turns of one role (e.g. several tool results) are merged into one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tenantry.llm.transport import BaseClient
from tenantry.llm.types import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall, Usage

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # Anthropic requires max_tokens; callers rarely care

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}
_TRANSIENT_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error"}


class AnthropicClient(BaseClient):
    default_base = "https://api.anthropic.com"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.config.api_version or DEFAULT_VERSION}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        return headers

    @staticmethod
    def _blocks(m: Message) -> list[dict[str, Any]]:
        if m.role == "tool":
            return [
                {
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id or "",
                    "content": m.content or "",
                }
            ]
        blocks: list[dict[str, Any]] = []
        if m.content:  # Anthropic rejects empty text blocks
            blocks.append({"type": "text", "text": m.content})
        for c in m.tool_calls if m.role == "assistant" else []:
            blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments})
        return blocks

    def _body(self, request: ChatRequest, model: str, *, stream: bool = False) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        turns: list[dict[str, Any]] = []
        for m in request.messages:
            if m.role == "system":
                continue
            role = "assistant" if m.role == "assistant" else "user"
            blocks = self._blocks(m)
            if not blocks:
                continue
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].extend(blocks)
            else:
                turns.append({"role": role, "content": blocks})
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            body["system"] = "\n\n".join(system)
        # "none" omits the tools, unless the conversation already holds tool blocks: Anthropic
        # then wants the tools defined, so they go with tool_choice {"type": "none"}.
        has_tool_blocks = any(m.role == "tool" or m.tool_calls for m in request.messages)
        if request.tools and (request.tool_choice != "none" or has_tool_blocks):
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            choice = request.tool_choice
            if choice in ("auto", "none"):
                body["tool_choice"] = {"type": choice}
            elif choice == "required":
                body["tool_choice"] = {"type": "any"}
            elif choice:
                body["tool_choice"] = {"type": "tool", "name": choice}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if stream:
            body["stream"] = True
        body.update(request.extra)
        return body

    @staticmethod
    def _finish(reason: str | None, has_calls: bool) -> str:
        if reason is None:
            return "tool_calls" if has_calls else "stop"
        return _STOP_REASONS.get(reason, reason)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            f"{self.base_url}/v1/messages",
            json=self._body(request, model),
            headers=self._headers(),
            model=model,
        )
        data = self._http.load_json(response.content)
        if not isinstance(data, dict):
            raise self._http.error(f"{self._http.who} answered with an unexpected shape.")
        text, calls = [], []
        for block in data.get("content") or []:
            if block.get("type") == "text":
                text.append(block.get("text", ""))
            elif block.get("type") == "tool_use":
                name = block.get("name", "")
                calls.append(
                    ToolCall(
                        id=block.get("id") or f"call_{len(calls)}",
                        name=name,
                        arguments=self.parse_arguments(name, block.get("input")),
                    )
                )
        usage = data.get("usage") or {}
        return ChatResponse(
            text="".join(text),
            tool_calls=calls,
            usage=Usage(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0),
            model=data.get("model") or model,
            finish_reason=self._finish(data.get("stop_reason"), bool(calls)),
            id=data.get("id"),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            f"{self.base_url}/v1/messages",
            json=self._body(request, model, stream=True),
            headers=self._headers(),
            stream=True,
            model=model,
        )
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}  # content-block index -> tool call being built
        usage, stop, done = Usage(), None, False
        rid, rmodel = None, model
        try:
            async for event, data in self._http.iter_sse(response):
                payload = self._http.load_json(data)
                if not isinstance(payload, dict):
                    continue
                kind = payload.get("type", event)
                if kind == "message_start":
                    message = payload.get("message") or {}
                    rid, rmodel = message.get("id"), message.get("model") or model
                    start = message.get("usage") or {}
                    usage.input_tokens = start.get("input_tokens") or 0
                    usage.output_tokens = start.get("output_tokens") or 0
                elif kind == "content_block_start":
                    block = payload.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        # Callers number tool calls among tool calls, not among content blocks.
                        ordinal = len(calls)
                        calls[payload.get("index", ordinal)] = {
                            "ordinal": ordinal,
                            "id": block.get("id"),
                            "name": block.get("name", ""),
                            "args": [],
                        }
                        yield StreamEvent(
                            type="tool_call",
                            index=ordinal,
                            id=block.get("id"),
                            name=block.get("name"),
                        )
                    elif block.get("type") == "text" and block.get("text"):
                        text.append(block["text"])
                        yield StreamEvent(type="text", text=block["text"])
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        text.append(delta["text"])
                        yield StreamEvent(type="text", text=delta["text"])
                    elif delta.get("type") == "input_json_delta":
                        call = calls.get(payload.get("index", -1))
                        fragment = delta.get("partial_json") or ""
                        if call is not None and fragment:
                            call["args"].append(fragment)
                            yield StreamEvent(
                                type="tool_call", index=call["ordinal"], arguments=fragment
                            )
                elif kind == "message_delta":
                    stop = (payload.get("delta") or {}).get("stop_reason") or stop
                    final = payload.get("usage") or {}
                    if final.get("output_tokens") is not None:
                        usage.output_tokens = final["output_tokens"]
                    if final.get("input_tokens"):
                        usage.input_tokens = final["input_tokens"]
                elif kind == "message_stop":
                    done = True
                    break
                elif kind == "error":
                    err = payload.get("error") or {}
                    said = self._http.scrub(str(err.get("message")))
                    raise self._http.error(
                        f"{self._http.who} failed mid-stream ({err.get('type', 'error')}: {said}).",
                        transient=err.get("type") in _TRANSIENT_STREAM_ERRORS,
                    )
        finally:
            await response.aclose()
        if not done:
            raise self._http.error(
                f"{self._http.who} ended the stream before finishing the reply.", transient=True
            )
        tool_calls = [
            ToolCall(
                id=c["id"] or f"call_{c['ordinal']}",
                name=c["name"],
                arguments=self.parse_arguments(c["name"], "".join(c["args"])),
            )
            for c in sorted(calls.values(), key=lambda c: c["ordinal"])
        ]
        yield StreamEvent(
            type="done",
            response=ChatResponse(
                text="".join(text),
                tool_calls=tool_calls,
                usage=usage,
                model=rmodel,
                finish_reason=self._finish(stop, bool(tool_calls)),
                id=rid,
            ),
        )

    async def list_models(self) -> list[str]:
        response = await self._http.send_with_retries(
            "GET", f"{self.base_url}/v1/models", headers=self._headers(), params={"limit": "1000"}
        )
        data = self._http.load_json(response.content)
        items = (data.get("data") or []) if isinstance(data, dict) else []
        return [m["id"] for m in items if isinstance(m, dict) and m.get("id")]
