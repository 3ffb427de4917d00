"""Google Gemini ``generateContent`` / ``streamGenerateContent`` (Generative Language API).

Gemini calls tools without ids: calls get synthesized ids (``call_0``, ``call_1`` …) and tool
results are matched back to a function by name, taken from ``Message.name`` or from the
assistant turn that made the call.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from tenantry.core.errors import ValidationFailed
from tenantry.llm.transport import BaseClient
from tenantry.llm.types import ChatRequest, ChatResponse, StreamEvent, ToolCall, Usage

_FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


class GeminiClient(BaseClient):
    default_base = "https://generativelanguage.googleapis.com"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.config.api_key} if self.config.api_key else {}

    def _url(self, model: str, method: str) -> str:
        return f"{self.base_url}/v1beta/models/{model.removeprefix('models/')}:{method}"

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        names: dict[str, str] = {}  # tool call id -> function name, for the results
        contents: list[dict[str, Any]] = []
        system: list[str] = []
        for i, m in enumerate(request.messages):
            if m.role == "system":
                if m.content:
                    system.append(m.content)
                continue
            parts: list[dict[str, Any]] = []
            if m.role == "tool":
                name = m.name or names.get(m.tool_call_id or "")
                if not name:
                    raise ValidationFailed.field(
                        f"messages[{i}].name",
                        "Gemini needs the tool's name on a tool result; set name or answer a "
                        "tool call id from an earlier assistant turn",
                    )
                parts.append(
                    {"functionResponse": {"name": name, "response": {"content": m.content}}}
                )
            else:
                if m.content:
                    parts.append({"text": m.content})
                for c in m.tool_calls if m.role == "assistant" else []:
                    names[c.id] = c.name
                    part = {"functionCall": {"name": c.name, "args": c.arguments}}
                    if c.provider_data.get("thoughtSignature"):
                        # Thinking models refuse a call sent back without its signature.
                        part["thoughtSignature"] = c.provider_data["thoughtSignature"]
                    parts.append(part)
            if not parts:
                continue
            role = "model" if m.role == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        config: dict[str, Any] = {}
        for key, value in (
            ("temperature", request.temperature),
            ("maxOutputTokens", request.max_tokens),
            ("topP", request.top_p),
            ("stopSequences", request.stop or None),
        ):
            if value is not None:
                config[key] = value
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
            choice = request.tool_choice
            if choice in _MODES:
                body["toolConfig"] = {"functionCallingConfig": {"mode": _MODES[choice]}}
            elif choice:
                body["toolConfig"] = {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice]}
                }
        body.update(request.extra)
        return body

    def _check(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self._http.error(f"{self._http.who} answered with an unexpected shape.")
        if data.get("error"):
            err = data["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise self._http.error(
                f"{self._http.who} failed: {self._http.scrub(str(message))}.", transient=True
            )
        if not data.get("candidates") and (data.get("promptFeedback") or {}).get("blockReason"):
            reason = data["promptFeedback"]["blockReason"]
            raise self._http.error(f"{self._http.who} blocked the prompt ({reason}).")
        return data

    @staticmethod
    def _usage(data: dict[str, Any]) -> Usage | None:
        meta = data.get("usageMetadata")
        if not meta:
            return None
        # Thinking tokens are billed as output tokens.
        output = (meta.get("candidatesTokenCount") or 0) + (meta.get("thoughtsTokenCount") or 0)
        return Usage(meta.get("promptTokenCount") or 0, output)

    @staticmethod
    def _finish(reason: str | None, has_calls: bool) -> str:
        if reason in _FILTERED:
            return "content_filter"
        if reason == "MAX_TOKENS":
            return "length"
        if has_calls:
            return "tool_calls"
        return "stop" if reason in (None, "STOP", "FINISH_REASON_UNSPECIFIED") else reason.lower()

    def _parts(self, data: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        candidates = data.get("candidates") or []
        if not candidates:
            return [], None
        first = candidates[0]
        return (first.get("content") or {}).get("parts") or [], first.get("finishReason")

    def _call(self, part: dict[str, Any], ordinal: int) -> ToolCall:
        fn = part["functionCall"]
        name = fn.get("name", "")
        args = self.parse_arguments(name, fn.get("args"))
        extra = {"thoughtSignature": part["thoughtSignature"]} if "thoughtSignature" in part else {}
        return ToolCall(
            id=fn.get("id") or f"call_{ordinal}", name=name, arguments=args, provider_data=extra
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            self._url(model, "generateContent"),
            json=self._body(request),
            headers=self._headers(),
            model=model,
        )
        data = self._check(self._http.load_json(response.content))
        parts, reason = self._parts(data)
        text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
        calls = [self._call(p, i) for i, p in enumerate(p for p in parts if "functionCall" in p)]
        return ChatResponse(
            text=text,
            tool_calls=calls,
            usage=self._usage(data) or Usage(),
            model=data.get("modelVersion") or model,
            finish_reason=self._finish(reason, bool(calls)),
            id=data.get("responseId"),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = self.model_of(request)
        response = await self._http.send_with_retries(
            "POST",
            self._url(model, "streamGenerateContent"),
            json=self._body(request),
            headers=self._headers(),
            params={"alt": "sse"},
            stream=True,
            model=model,
        )
        text: list[str] = []
        calls: list[ToolCall] = []
        usage, reason, finished = Usage(), None, False
        rid, rmodel = None, model
        try:
            async for _event, raw in self._http.iter_sse(response):
                data = self._check(self._http.load_json(raw))
                rid = data.get("responseId") or rid
                rmodel = data.get("modelVersion") or rmodel
                usage = self._usage(data) or usage  # cumulative: the last one counts
                parts, chunk_reason = self._parts(data)
                for part in parts:
                    if "text" in part and part["text"] and not part.get("thought"):
                        text.append(part["text"])
                        yield StreamEvent(type="text", text=part["text"])
                    elif "functionCall" in part:
                        # Gemini sends each call whole, never in fragments.
                        call = self._call(part, len(calls))
                        calls.append(call)
                        yield StreamEvent(
                            type="tool_call",
                            index=len(calls) - 1,
                            id=call.id,
                            name=call.name,
                            arguments=json.dumps(call.arguments),
                        )
                if chunk_reason:
                    reason, finished = chunk_reason, True
        finally:
            await response.aclose()
        if not finished:
            raise self._http.error(
                f"{self._http.who} ended the stream before finishing the reply.", transient=True
            )
        yield StreamEvent(
            type="done",
            response=ChatResponse(
                text="".join(text),
                tool_calls=calls,
                usage=usage,
                model=rmodel,
                finish_reason=self._finish(reason, bool(calls)),
                id=rid,
            ),
        )

    async def list_models(self) -> list[str]:
        response = await self._http.send_with_retries(
            "GET",
            f"{self.base_url}/v1beta/models",
            headers=self._headers(),
            params={"pageSize": "1000"},
        )
        data = self._http.load_json(response.content)
        items = (data.get("models") or []) if isinstance(data, dict) else []
        return [
            m["name"].removeprefix("models/")
            for m in items
            if isinstance(m, dict) and m.get("name")
        ]


def _declaration(tool: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "description": tool.description}
    # Gemini rejects an OBJECT schema with no properties: a tool without parameters omits them.
    if (tool.parameters or {}).get("properties"):
        out["parameters"] = tool.parameters
    return out
