"""The three providers' wire formats for the loopback server in ``servers.py``: error bodies,
model lists, replies and their SSE frames, built from one provider-neutral outcome."""

from __future__ import annotations

import json
import re
import time
from itertools import zip_longest
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .servers import Reply


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
_FINISH = {  # neutral -> provider's own
    "openai": {"stop": "stop", "tool_calls": "tool_calls", "length": "length"},
    "anthropic": {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"},
    "gemini": {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS"},
}


def error_body(proto: str, status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error")
    if proto == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    if proto == "gemini":
        google = _GOOGLE_STATUS.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": google}}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def models_body(proto: str, models: list[str]) -> dict[str, Any]:
    if proto == "gemini":
        return {
            "models": [
                {
                    "name": f"models/{m}",
                    "displayName": m,
                    "supportedGenerationMethods": ["generateContent"],
                }
                for m in models
            ]
        }
    if proto == "anthropic":
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in models
        ],
    }


def _text_of(value: Any) -> str:
    """Text of a content value in any of the three shapes (string, blocks, parts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text_of(v) for v in value)
    if isinstance(value, dict):
        if "text" in value:
            return str(value["text"])
        if value.get("type") == "tool_result":
            return _text_of(value.get("content"))
        if "functionResponse" in value:
            response = value["functionResponse"].get("response") or {}
            return _text_of(response.get("content", json.dumps(response)))
    return ""


def _read(proto: str, body: dict[str, Any]) -> tuple[list[str], str, int | None]:
    """(every message text, the last user/tool text, the max_tokens asked for)."""
    if proto == "gemini":
        turns = [(c.get("role"), c.get("parts")) for c in body.get("contents") or []]
        system = [_text_of((body.get("systemInstruction") or {}).get("parts"))]
        cap = (body.get("generationConfig") or {}).get("maxOutputTokens")
    else:
        turns = [(m.get("role"), m.get("content")) for m in body.get("messages") or []]
        system = [_text_of(body.get("system"))] if proto == "anthropic" else []
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
    texts = system + [_text_of(content) for _, content in turns]
    inputs = [_text_of(content) for role, content in turns if role in ("user", "tool")]
    return texts, (inputs[-1] if inputs else ""), cap


def outcome(proto: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The provider-neutral reply: text, calls, usage, the provider's finish reason."""
    texts, last, cap = _read(proto, body)
    text = reply.text if (reply.text or reply.tool_calls) else f"echo: {last}"
    finish = "tool_calls" if reply.tool_calls else "stop"
    if cap and reply.output_tokens is None and len(text.split()) > cap:
        text, finish = " ".join(text.split()[:cap]), "length"
    calls = []
    for i, c in enumerate(reply.tool_calls):
        raw = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments)
        try:  # Anthropic and Gemini carry objects; a scripted non-JSON string goes as-is
            args = json.loads(raw)
        except ValueError:
            args = raw
        prefix = "toolu_0" if proto == "anthropic" else "call_"
        calls.append({"id": c.id or f"{prefix}{i}", "name": c.name, "raw": raw, "args": args})
    words_in = sum(len(t.split()) for t in texts)
    words_out = len(text.split()) + sum(len(c["raw"].split()) for c in calls)
    return {
        "text": text,
        "calls": calls,
        "input": words_in if reply.input_tokens is None else reply.input_tokens,
        "output": words_out if reply.output_tokens is None else reply.output_tokens,
        "finish": reply.finish_reason or _FINISH[proto][finish],
    }


def render(proto: str, model: str, o: dict[str, Any]) -> dict[str, Any]:
    if proto == "anthropic":
        content = [{"type": "text", "text": o["text"]}] if o["text"] else []
        content += [
            {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["args"]}
            for c in o["calls"]
        ]
        return {
            "id": "msg_loopback",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": o["finish"],
            "stop_sequence": None,
            "usage": {"input_tokens": o["input"], "output_tokens": o["output"]},
        }
    if proto == "gemini":
        parts = [{"text": o["text"]}] if o["text"] else []
        parts += [{"functionCall": {"name": c["name"], "args": c["args"]}} for c in o["calls"]]
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": o["finish"],
                    "index": 0,
                }
            ],
            "usageMetadata": _gemini_usage(o),
            "modelVersion": model,
            "responseId": "loopback",
        }
    message: dict[str, Any] = {"role": "assistant", "content": o["text"] or None, "refusal": None}
    if o["calls"]:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["raw"]},
            }
            for c in o["calls"]
        ]
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": o["finish"]}
        ],
        "usage": {
            "prompt_tokens": o["input"],
            "completion_tokens": o["output"],
            "total_tokens": o["input"] + o["output"],
        },
    }


def _gemini_usage(o: dict[str, Any]) -> dict[str, int]:
    return {
        "promptTokenCount": o["input"],
        "candidatesTokenCount": o["output"],
        "totalTokenCount": o["input"] + o["output"],
    }


def _pieces(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text)  # word by word, spaces kept: joining gives the text back


def _fragments(raw: str, size: int = 7) -> list[str]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def stream_frames(proto: str, model: str, o: dict[str, Any], body: dict[str, Any]) -> list[bytes]:
    """The SSE frames of a streamed reply; a scripted stream_error replaces them after the
    first text piece (frame 2 of OpenAI, 3 of Anthropic, 1 of Gemini)."""
    if proto == "anthropic":

        def ev(data: dict[str, Any]) -> bytes:
            return _sse(data, data["type"])

        frames = [
            ev(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_loopback",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": o["input"], "output_tokens": 1},
                    },
                }
            )
        ]
        blocks = (
            [({"type": "text", "text": ""}, "text_delta", "text", _pieces(o["text"]))]
            if o["text"]
            else []
        )
        blocks += [
            (
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": {}},
                "input_json_delta",
                "partial_json",
                _fragments(c["raw"]),
            )
            for c in o["calls"]
        ]
        for index, (start, delta_type, key, pieces) in enumerate(blocks):
            frames.append(
                ev({"type": "content_block_start", "index": index, "content_block": start})
            )
            frames += [
                ev(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": delta_type, key: p},
                    }
                )
                for p in pieces
            ]
            frames.append(ev({"type": "content_block_stop", "index": index}))
        frames.append(
            ev(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": o["finish"], "stop_sequence": None},
                    "usage": {"output_tokens": o["output"]},
                }
            )
        )
        return [*frames, ev({"type": "message_stop"})]
    if proto == "gemini":

        def chunk(parts: list[dict[str, Any]], **more: Any) -> bytes:
            return _sse(
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": parts}, "index": 0, **more}
                    ],
                    "usageMetadata": {"promptTokenCount": o["input"]},
                    "modelVersion": model,
                    "responseId": "loopback",
                }
            )

        frames = [chunk([{"text": p}]) for p in _pieces(o["text"])]
        if o["calls"]:
            frames.append(
                chunk(
                    [{"functionCall": {"name": c["name"], "args": c["args"]}} for c in o["calls"]]
                )
            )
        last = json.loads(chunk([{"text": ""}], finishReason=o["finish"])[6:])
        return [*frames, _sse({**last, "usageMetadata": _gemini_usage(o)})]
    usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    if usage_wanted:
        base["usage"] = None

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": d, "finish_reason": finish}]})

    frames = [delta({"role": "assistant", "content": ""})]
    frames += [delta({"content": p}) for p in _pieces(o["text"])]
    frames += [
        delta(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": ""},
                    }
                ]
            }
        )
        for i, c in enumerate(o["calls"])
    ]
    # Fragments of parallel calls interleave: only ``index`` says which call a piece belongs to.
    rounds = zip_longest(*[_fragments(c["raw"]) for c in o["calls"]])
    frames += [
        delta({"tool_calls": [{"index": i, "function": {"arguments": f}}]})
        for fragments in rounds
        for i, f in enumerate(fragments)
        if f
    ]
    frames.append(delta({}, o["finish"]))
    if usage_wanted:
        frames.append(
            _sse(
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": o["input"],
                        "completion_tokens": o["output"],
                        "total_tokens": o["input"] + o["output"],
                    },
                }
            )
        )
    return [*frames, b"data: [DONE]\n\n"]


STREAM_ERROR_AFTER = {"openai": 2, "anthropic": 3, "gemini": 1}


def stream_error(proto: str, message: str) -> bytes:
    if proto == "anthropic":
        return _sse(
            {"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error"
        )
    if proto == "gemini":
        return _sse(error_body("gemini", 503, message))
    return _sse({"error": {"message": message, "type": "server_error"}})
