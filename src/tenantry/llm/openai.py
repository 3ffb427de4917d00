"""OpenAI-compatible Chat Completions: OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio.

Azure is recognised by ``config.api_version`` (``api-key`` header, ``?api-version=``); local
servers usually need no key, and then no auth header is sent at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from tenantry.llm.transport import BaseClient
from tenantry.llm.types import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
)

# Reasoning models refuse ``max_tokens`` and want ``max_completion_tokens``.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(?:.*/)?(?:o\d|gpt-5)")


class OpenAIClient(BaseClient):
    default_base = "https://api.openai.com/v1"

    def _headers(self) -> dict[str, str]:
        key = self.config.api_key
        if not key:
            return {}
        if self.config.api_version:
            return {"api-key": key}
        return {"Authorization": f"Bearer {key}"}

    def _params(self) -> dict[str, str] | None:
        return {"api-version": self.config.api_version} if self.config.api_version else None

    @staticmethod
    def _message(m: Message) -> dict[str, Any]:
        if m.role == "tool":
            return {
                "role": "tool",
                "tool_call_id": m.tool_call_id or "",
                "content": m.content or "",
            }
        out: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.role == "assistant" and m.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in m.tool_calls
            ]
        elif m.content is None:
            out["content"] = ""
        return out

    def _body(self, request: ChatRequest, model: str, *, stream: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [self._message(m) for m in request.messages],
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
            choice = request.tool_choice
            if choice in ("auto", "none", "required"):
                body["tool_choice"] = choice
            elif choice:
                body["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            key = (
                "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(model) else "max_tokens"
            )
            body[key] = request.max_tokens
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    @staticmethod
    def _text(content: Any) -> str:
        if isinstance(content, list):  # some compatible servers answer with content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content or ""

    @staticmethod
    def _usage(raw: dict[str, Any] | None) -> Usage:
        raw = raw or {}
        return Usage(raw.get("prompt_tokens") or 0, raw.get("completion_tokens") or 0)

    @staticmethod
    def _finish(reason: str | None, has_calls: bool) -> str:
        if reason == "function_call":
            return "tool_calls"
        return reason or ("tool_calls" if has_calls else "stop")

    async def chat(self, request: ChatRequest) -> ChatResponse:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            f"{self.base_url}/chat/completions",
            json=self._body(request, model),
            headers=self._headers(),
            params=self._params(),
            model=model,
        )
        data = self._http.load_json(response.content)
        choices = (data.get("choices") or []) if isinstance(data, dict) else []
        if not choices:
            raise self._http.error(f"{self._http.who} answered without any choices.")
        message = choices[0].get("message") or {}
        calls = []
        for i, raw in enumerate(message.get("tool_calls") or []):
            fn = raw.get("function") or {}
            name = fn.get("name", "")
            args = self.parse_arguments(name, fn.get("arguments"))
            calls.append(ToolCall(id=raw.get("id") or f"call_{i}", name=name, arguments=args))
        return ChatResponse(
            text=self._text(message.get("content")),
            tool_calls=calls,
            usage=self._usage(data.get("usage")),
            model=data.get("model") or model,
            finish_reason=self._finish(choices[0].get("finish_reason"), bool(calls)),
            id=data.get("id"),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            f"{self.base_url}/chat/completions",
            json=self._body(request, model, stream=True),
            headers=self._headers(),
            params=self._params(),
            stream=True,
            model=model,
        )
        text: list[str] = []
        slots: dict[int, dict[str, Any]] = {}  # tool calls assembled by their ``index``
        usage, finish, done = Usage(), None, False
        rid, rmodel = None, model
        try:
            async for _event, data in self._http.iter_sse(response):
                if data.strip() == "[DONE]":
                    done = True
                    break
                chunk = self._http.load_json(data)
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error") or chunk.get("object") == "error":
                    raise self._http.error(
                        f"{self._http.who} failed mid-stream: "
                        f"{self._http.scrub(_stream_error(chunk))}.",
                        transient=True,
                    )
                rid = chunk.get("id") or rid
                rmodel = chunk.get("model") or rmodel
                if chunk.get("usage"):
                    usage = self._usage(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    if choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta") or {}
                    piece = self._text(delta.get("content"))
                    if piece:
                        text.append(piece)
                        yield StreamEvent(type="text", text=piece)
                    for tc in delta.get("tool_calls") or []:
                        index = tc.get("index", 0)
                        fn = tc.get("function") or {}
                        slot = slots.setdefault(index, {"id": None, "name": "", "args": []})
                        slot["id"] = tc.get("id") or slot["id"]
                        slot["name"] = fn.get("name") or slot["name"]
                        fragment = fn.get("arguments") or ""
                        slot["args"].append(fragment)
                        yield StreamEvent(
                            type="tool_call",
                            index=index,
                            id=tc.get("id"),
                            name=fn.get("name"),
                            arguments=fragment,
                        )
                    finish = choice.get("finish_reason") or finish
        finally:
            await response.aclose()
        if not done and finish is None:
            raise self._http.error(
                f"{self._http.who} ended the stream before finishing the reply.", transient=True
            )
        calls = [
            ToolCall(
                id=slot["id"] or f"call_{index}",
                name=slot["name"],
                arguments=self.parse_arguments(slot["name"], "".join(slot["args"])),
            )
            for index, slot in sorted(slots.items())
        ]
        yield StreamEvent(
            type="done",
            response=ChatResponse(
                text="".join(text),
                tool_calls=calls,
                usage=usage,
                model=rmodel,
                finish_reason=self._finish(finish, bool(calls)),
                id=rid,
            ),
        )

    async def list_models(self) -> list[str]:
        response = await self._http.send_with_retries(
            "GET", f"{self.base_url}/models", headers=self._headers(), params=self._params()
        )
        data = self._http.load_json(response.content)
        items = (data.get("data") or []) if isinstance(data, dict) else []
        return [m["id"] for m in items if isinstance(m, dict) and m.get("id")]


def _stream_error(chunk: dict[str, Any]) -> str:
    err = chunk.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err or chunk.get("message") or "unknown error")
